package sidecar

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/telemetry/accesslog"
	"github.com/weft-mesh/weft/internal/telemetry/otlp"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// Tracing configures distributed tracing. The sidecar always forwards
// trace context it does not record (traceparent, tracestate, b3,
// X-B3-*, x-request-id); with an OTLP endpoint it also starts traces,
// records a server and a client span per request, and exports them.
type Tracing struct {
	// OTLP is the collector's endpoint. With protocol http/protobuf, its
	// OTLP/HTTP base URL, e.g. http://127.0.0.1:4318 ("/v1/traces" is
	// appended when the URL has no path; to the generic variable's path
	// always, as OpenTelemetry specifies); with grpc, http://HOST:PORT
	// (plaintext), https://HOST:PORT (TLS) or HOST:PORT (TLS unless
	// insecure), without a path, e.g. http://127.0.0.1:4317. Default:
	// $OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
	// $OTEL_EXPORTER_OTLP_ENDPOINT; neither set leaves tracing off.
	OTLP string `yaml:"otlp" json:"otlp,omitempty"`
	// Protocol is the OTLP transport: "http/protobuf" (POST /v1/traces)
	// or "grpc" (TraceService/Export). "http/json" is not supported.
	// Default: $OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
	// $OTEL_EXPORTER_OTLP_PROTOCOL, else http/protobuf.
	Protocol string `yaml:"protocol" json:"protocol,omitempty"`
	// Insecure sends OTLP/gRPC in plaintext to an endpoint given without
	// a scheme (HOST:PORT); an http:// or https:// scheme decides
	// otherwise, and OTLP/HTTP always follows its URL's scheme. Default:
	// $OTEL_EXPORTER_OTLP_TRACES_INSECURE, else
	// $OTEL_EXPORTER_OTLP_INSECURE, else false (TLS).
	Insecure *bool `yaml:"insecure" json:"insecure,omitempty"`
	// Certificate is a PEM file of the roots a TLS collector's
	// certificate is checked against, instead of the system's. Default:
	// $OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE, else
	// $OTEL_EXPORTER_OTLP_CERTIFICATE, else the system roots.
	Certificate string `yaml:"certificate" json:"certificate,omitempty"`
	// Sampling is the share of new traces recorded, 0 to 1 (head
	// sampling). A request that arrives with a trace context keeps its
	// caller's decision, so a trace is recorded whole or not at all.
	// Default: $OTEL_TRACES_SAMPLER_ARG, else 0.01.
	Sampling *float64 `yaml:"sampling" json:"sampling,omitempty"`
	// Headers are sent with every export (a collector's auth token): as
	// HTTP headers, or over gRPC as the call's metadata (keys
	// lowercased). Default: $OTEL_EXPORTER_OTLP_TRACES_HEADERS, else
	// $OTEL_EXPORTER_OTLP_HEADERS (key=value,key2=value2, values
	// percent-encoded).
	Headers map[string]string `yaml:"headers" json:"headers,omitempty"`
}

// AccessLog configures per-request JSON log lines. Absent: no access log.
type AccessLog struct {
	// Path is where lines go: "stdout", "stderr" or a file (appended to,
	// created 0600). Default stdout.
	Path string `yaml:"path" json:"path,omitempty"`
	// Fields to write; default all: start_time, direction, method,
	// authority, path, protocol, response_code, response_flags,
	// duration_ms, upstream_cluster, upstream_host, request_id, trace_id.
	Fields []string `yaml:"fields" json:"fields,omitempty"`
	// Sampling is the share of requests logged, 0 to 1; requests with a
	// response flag (made or ended by the mesh) are always logged, so 0
	// logs only those. Default 1.
	Sampling *float64 `yaml:"sampling" json:"sampling,omitempty"`
}

func (a *AccessLog) sampling() float64 {
	if a.Sampling == nil {
		return 1
	}
	return *a.Sampling
}

// defaultSampling is the head-sampling share when none is configured.
const defaultSampling = 0.01

// tracingEndpoint is the configured OTLP endpoint, or the standard
// OpenTelemetry variables' when the file sets none.
func (t *Tracing) endpoint() string {
	if t != nil && t.OTLP != "" {
		return t.OTLP
	}
	if v := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"); v != "" {
		return v
	}
	return os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT")
}

func (t *Tracing) sampling() (float64, error) {
	if t != nil && t.Sampling != nil {
		return *t.Sampling, nil
	}
	if v := os.Getenv("OTEL_TRACES_SAMPLER_ARG"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, fmt.Errorf("OTEL_TRACES_SAMPLER_ARG %q: %w", v, err)
		}
		return f, nil
	}
	return defaultSampling, nil
}

func validateTelemetry(fe *fieldErrors, c *Config) {
	if c.Tracing != nil {
		if s, err := c.Tracing.sampling(); err != nil {
			fe.add("tracing.sampling", "%v", err)
		} else if s < 0 || s > 1 {
			fe.add("tracing.sampling", "must be between 0 and 1; got %v", s)
		}
		proto, protoFrom := c.Tracing.protocol()
		protoOK := proto == otlp.ProtocolHTTP || proto == otlp.ProtocolGRPC
		if !protoOK {
			fe.add(protoFrom, "want %q or %q; got %q", otlp.ProtocolGRPC, otlp.ProtocolHTTP, proto)
		}
		insecure, insecureFrom, err := c.Tracing.insecure()
		if err != nil {
			fe.add(insecureFrom, "%v", err)
		}
		if c.Tracing.OTLP != "" && protoOK {
			if err := otlp.CheckEndpoint(proto, c.Tracing.OTLP, insecure); err != nil {
				fe.add("tracing.otlp", "%v", err)
			}
		}
		if _, from, err := c.Tracing.headers(); err != nil {
			fe.add(from, "%v", err)
		}
		if cert, certFrom := c.Tracing.certificate(); cert != "" {
			if err := otlp.CheckCertificate(cert); err != nil {
				fe.add(certFrom, "%v", err)
			}
		}
	}
	if a := c.AccessLog; a != nil {
		if _, err := accesslog.New(io.Discard, accesslog.Config{Fields: a.Fields, Sampling: a.sampling()}); err != nil {
			fe.add("accessLog", "%v", err)
		}
	}
}

// telemetryParts are the tracer and access logger the engines share, and
// the goroutines that ship their output.
type telemetryParts struct {
	tracer   *tracing.Tracer
	exporter *otlp.Exporter
	access   *accesslog.Logger
	closer   io.Closer
	// tap feeds `weft tap` (served on the admin port).
	tap *tapParts
}

// newTelemetry builds the tracer and access log from the bootstrap; they
// are fixed for the process's life (a reload does not change them).
func newTelemetry(cfg *Config, log *slog.Logger, reg prometheus.Registerer) (*telemetryParts, error) {
	p := &telemetryParts{tap: newTapParts()}
	if ep := cfg.Tracing.endpoint(); ep != "" {
		share, err := cfg.Tracing.sampling()
		if err != nil {
			return nil, err
		}
		res := otlp.Resource{ServiceName: cfg.Service, Instance: cfg.Node}
		if cfg.Register != nil {
			res.ServiceVersion = cfg.Register.Labels["version"]
		}
		if i := strings.IndexByte(cfg.Service, '.'); i > 0 {
			res.ServiceName, res.Namespace = cfg.Service[:i], cfg.Service[i+1:]
		}
		proto, from := cfg.Tracing.protocol()
		if proto != otlp.ProtocolHTTP && proto != otlp.ProtocolGRPC {
			return nil, fmt.Errorf("tracing: %s: want %q or %q; got %q", from, otlp.ProtocolGRPC, otlp.ProtocolHTTP, proto)
		}
		insecure, _, err := cfg.Tracing.insecure()
		if err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		cert, _ := cfg.Tracing.certificate()
		headers, from, err := cfg.Tracing.headers()
		if err != nil {
			return nil, fmt.Errorf("tracing: %s: %w", from, err)
		}
		oc := otlp.Config{Protocol: proto, Endpoint: cfg.Tracing.exportEndpoint(proto), Insecure: insecure, CACertFile: cert, Resource: res, Logger: log, Headers: headers}
		if p.exporter, err = otlp.New(oc); err != nil {
			return nil, fmt.Errorf("tracing: %w", err)
		}
		p.tracer = tracing.New(share, p.exporter)
		reg.MustRegister(spanCollector{p.exporter})
		log.Info("tracing on", "otlp", ep, "protocol", proto, "sampling", share)
	}
	if a := cfg.AccessLog; a != nil {
		var w io.Writer
		switch a.Path {
		case "", "stdout":
			w = os.Stdout
		case "stderr":
			w = os.Stderr
		default:
			f, err := os.OpenFile(a.Path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
			if err != nil {
				return nil, fmt.Errorf("accessLog.path: %w", err)
			}
			w, p.closer = f, f
		}
		l, err := accesslog.New(w, accesslog.Config{Fields: a.Fields, Sampling: a.sampling()})
		if err != nil {
			return nil, fmt.Errorf("accessLog: %w", err)
		}
		p.access = l
		reg.MustRegister(accessLogCollector{l})
	}
	return p, nil
}

// run ships spans and log lines until ctx ends, then flushes them.
func (p *telemetryParts) run(ctx context.Context) {
	done := make(chan struct{}, 2)
	n := 0
	if p.exporter != nil {
		n++
		go func() { p.exporter.Run(ctx); done <- struct{}{} }()
	}
	if p.access != nil {
		n++
		go func() { p.access.Run(ctx); done <- struct{}{} }()
	}
	for ; n > 0; n-- {
		<-done
	}
	if p.closer != nil {
		p.closer.Close()
	}
}

var (
	spansDesc = prometheus.NewDesc("weft_trace_spans_total",
		"Spans by outcome: exported to the collector, dropped (queue full), failed (export refused or unreachable after retries, or spans the collector rejected).",
		[]string{"result"}, nil)
	accessDesc = prometheus.NewDesc("weft_access_log_lines_total",
		"Access log lines by outcome: written, or dropped (queue full or write failed).",
		[]string{"result"}, nil)
)

type spanCollector struct{ e *otlp.Exporter }

func (c spanCollector) Describe(ch chan<- *prometheus.Desc) { ch <- spansDesc }
func (c spanCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.e.Stats()
	ch <- prometheus.MustNewConstMetric(spansDesc, prometheus.CounterValue, float64(st.Exported), "exported")
	ch <- prometheus.MustNewConstMetric(spansDesc, prometheus.CounterValue, float64(st.Dropped), "dropped")
	ch <- prometheus.MustNewConstMetric(spansDesc, prometheus.CounterValue, float64(st.Failed), "failed")
}

type accessLogCollector struct{ l *accesslog.Logger }

func (c accessLogCollector) Describe(ch chan<- *prometheus.Desc) { ch <- accessDesc }
func (c accessLogCollector) Collect(ch chan<- prometheus.Metric) {
	w, d := c.l.Stats()
	ch <- prometheus.MustNewConstMetric(accessDesc, prometheus.CounterValue, float64(w), "written")
	ch <- prometheus.MustNewConstMetric(accessDesc, prometheus.CounterValue, float64(d), "dropped")
}

// flushTimeout bounds the final export at shutdown.
const flushTimeout = 5 * time.Second

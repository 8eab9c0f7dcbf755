package otlp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// The OTLP transports (OpenTelemetry's OTEL_EXPORTER_OTLP_PROTOCOL values).
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Config configures an exporter. Zero values are the defaults.
type Config struct {
	// Protocol is ProtocolHTTP (the default) or ProtocolGRPC.
	Protocol string
	// Endpoint is, for OTLP/HTTP, the collector's base URL
	// (http://HOST:4318); "/v1/traces" is appended unless the URL already
	// has a path, as OTEL_EXPORTER_OTLP_TRACES_ENDPOINT does. For
	// OTLP/gRPC it is http://HOST:PORT (plaintext), https://HOST:PORT
	// (TLS) or HOST:PORT (TLS unless Insecure), without a path.
	Endpoint string
	// Insecure sends OTLP/gRPC in plaintext to an endpoint without a
	// scheme (OTEL_EXPORTER_OTLP_INSECURE); a scheme decides otherwise.
	Insecure bool
	// CACertFile is a PEM file of roots that TLS collectors are checked
	// against instead of the system's (OTEL_EXPORTER_OTLP_CERTIFICATE).
	CACertFile string
	Resource   Resource
	// Headers are sent with every export (collector auth tokens); over
	// gRPC they are the call's metadata.
	Headers map[string]string
	// QueueSize caps spans waiting for export; more are dropped and
	// counted. Zero means 4096.
	QueueSize int
	// BatchSize is the most spans per export request. Zero means 512.
	BatchSize int
	// Interval is the longest a span waits before its batch is sent.
	// Zero means 1s.
	Interval time.Duration
	// Timeout bounds one export attempt. Zero means 10s.
	Timeout time.Duration
	// RetryBackoff is the first wait before a retryable failure is
	// retried; it doubles each time, up to 5s. Zero means 500ms.
	RetryBackoff time.Duration
	// RetryMax bounds the time spent retrying one batch, after which its
	// spans count as failed. Zero means 30s; negative disables retries.
	RetryMax time.Duration
	Logger   *slog.Logger
}

// sender delivers one encoded ExportTraceServiceRequest.
type sender interface {
	// send returns the spans the collector rejected in a partial
	// success (not retried, per OTLP), or an error; a *exportError says
	// whether a retry may succeed.
	send(ctx context.Context, body []byte) (rejected int64, msg string, err error)
	target() string
}

// exportError is a failed export attempt.
type exportError struct {
	retryable bool
	err       error
}

func (e *exportError) Error() string { return e.err.Error() }
func (e *exportError) Unwrap() error { return e.err }

// transportError wraps a failed round trip: retryable (the collector may
// come back) unless the collector's certificate was refused, which no
// retry mends.
func transportError(err error) error {
	var verr *tls.CertificateVerificationError
	return &exportError{retryable: !errors.As(err, &verr), err: err}
}

func isRetryable(err error) bool {
	ee, ok := err.(*exportError)
	return ok && ee.retryable
}

// Exporter batches spans and sends them to a collector. Export never
// blocks the request path: a full queue drops the span.
type Exporter struct {
	cfg   Config
	tx    sender
	queue chan *tracing.Span
	log   *slog.Logger

	exported, dropped, failed atomic.Uint64
}

// Stats counts spans: sent to the collector, dropped because the queue
// was full, and lost in failed exports (or rejected by the collector).
type Stats struct{ Exported, Dropped, Failed uint64 }

// New returns an exporter; Run must be running for spans to leave.
func New(cfg Config) (*Exporter, error) {
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 4096
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 512
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 500 * time.Millisecond
	}
	if cfg.RetryMax == 0 {
		cfg.RetryMax = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	tlsConf, err := tlsConfig(cfg.CACertFile)
	if err != nil {
		return nil, err
	}
	var tx sender
	switch cfg.Protocol {
	case "", ProtocolHTTP:
		tx, err = newHTTPSender(cfg, tlsConf)
	case ProtocolGRPC:
		tx, err = newGRPCSender(cfg, tlsConf)
	default:
		err = fmt.Errorf("otlp protocol %q: want %q or %q", cfg.Protocol, ProtocolGRPC, ProtocolHTTP)
	}
	if err != nil {
		return nil, err
	}
	return &Exporter{
		cfg: cfg, tx: tx,
		queue: make(chan *tracing.Span, cfg.QueueSize),
		log:   cfg.Logger.With("component", "otlp"),
	}, nil
}

// tlsConfig checks collectors against the system roots, or the file's.
func tlsConfig(caFile string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile == "" {
		return c, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("otlp certificate: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("otlp certificate %s: no PEM certificate in it", caFile)
	}
	c.RootCAs = pool
	return c, nil
}

// Export queues a span, or drops it if the queue is full.
func (e *Exporter) Export(s *tracing.Span) {
	select {
	case e.queue <- s:
	default:
		e.dropped.Add(1)
	}
}

// Stats returns the exporter's counters.
func (e *Exporter) Stats() Stats {
	return Stats{Exported: e.exported.Load(), Dropped: e.dropped.Load(), Failed: e.failed.Load()}
}

// Run sends batches until ctx ends, then flushes what is queued (one
// attempt, bounded by one export timeout).
func (e *Exporter) Run(ctx context.Context) {
	t := time.NewTicker(e.cfg.Interval)
	defer t.Stop()
	batch := make([]*tracing.Span, 0, e.cfg.BatchSize)
	for {
		select {
		case s := <-e.queue:
			batch = append(batch, s)
			if len(batch) == cap(batch) {
				batch = e.send(ctx, batch)
			}
		case <-t.C:
			batch = e.send(ctx, batch)
		case <-ctx.Done():
		drain:
			for len(batch) < cap(batch) {
				select {
				case s := <-e.queue:
					batch = append(batch, s)
				default:
					break drain
				}
			}
			e.send(ctx, batch)
			return
		}
	}
}

// send exports batch, retrying retryable failures with backoff until
// RetryMax or the stop, and returns it emptied for reuse. While it
// retries, new spans queue and, past the cap, drop.
func (e *Exporter) send(stop context.Context, batch []*tracing.Span) []*tracing.Span {
	if len(batch) == 0 {
		return batch
	}
	n := uint64(len(batch))
	body := encodeRequest(nil, &e.cfg.Resource, batch)
	clear(batch)
	batch = batch[:0]
	// An attempt in flight is not cut off by the stop: its timeout
	// bounds it, so the final flush still gets its one try.
	attemptCtx := context.WithoutCancel(stop)
	deadline := time.Now().Add(e.cfg.RetryMax)
	wait := e.cfg.RetryBackoff
	for {
		ctx, cancel := context.WithTimeout(attemptCtx, e.cfg.Timeout)
		rejected, msg, err := e.tx.send(ctx, body)
		cancel()
		if err == nil {
			if rejected > 0 {
				r := min(uint64(rejected), n)
				e.failed.Add(r)
				n -= r
				e.log.Warn("collector rejected spans", "target", e.tx.target(), "rejected", rejected, "msg", msg)
			}
			e.exported.Add(n)
			return batch
		}
		// Full jitter within [wait/2, wait): exporters that failed
		// together do not retry together.
		sleep := wait/2 + rand.N(wait/2+1)
		if !isRetryable(err) || stop.Err() != nil || e.cfg.RetryMax < 0 || time.Now().Add(sleep).After(deadline) {
			e.failed.Add(n)
			e.log.Warn("span export failed", "target", e.tx.target(), "spans", n, "err", err)
			return batch
		}
		e.log.Debug("span export failed, retrying", "target", e.tx.target(), "in", sleep, "err", err)
		t := time.NewTimer(sleep)
		select {
		case <-t.C:
		case <-stop.Done():
			// Stopping: one last attempt, as the flush would make.
			t.Stop()
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// CheckEndpoint reports whether endpoint is usable with protocol.
func CheckEndpoint(protocol, endpoint string, insecure bool) error {
	switch protocol {
	case "", ProtocolHTTP:
		_, err := tracesURL(endpoint)
		return err
	case ProtocolGRPC:
		_, _, err := grpcTarget(endpoint, insecure)
		return err
	}
	return fmt.Errorf("otlp protocol %q: want %q or %q", protocol, ProtocolGRPC, ProtocolHTTP)
}

// CheckCertificate reports whether file is a readable PEM file of roots.
func CheckCertificate(file string) error {
	_, err := tlsConfig(file)
	return err
}

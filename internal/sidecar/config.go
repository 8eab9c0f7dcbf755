// Package sidecar is the data plane's composition root: it turns a sidecar's
// bootstrap Config and the services and routes that arrive over xDS into
// immutable proxy runtime state, and runs the listeners and the admin server.
package sidecar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is everything one sidecar needs. YAML is one way to fill it; every
// field's zero value is a documented, safe default.
type Config struct {
	// Node identifies this sidecar instance. Default: the hostname.
	Node string `yaml:"node" json:"node"`
	// Service is the mesh service whose instance this sidecar fronts.
	Service string `yaml:"service" json:"service"`
	// Admin is the admin listener (/ready, /live, /metrics, /config).
	// Default 127.0.0.1:15000; "off" disables it.
	Admin string `yaml:"admin" json:"admin"`
	// Inbound are the listeners mesh traffic arrives on. Default: none.
	Inbound []Inbound `yaml:"inbound" json:"inbound"`
	// Outbound are the listeners the local app sends its requests to.
	Outbound Outbound `yaml:"outbound" json:"outbound"`
	// Locality is where this sidecar runs, for locality-aware balancing.
	// Default: unknown (balance over every endpoint alike).
	Locality Locality `yaml:"locality" json:"locality"`
	// Limits are the downstream-facing caps and timeouts.
	Limits Limits `yaml:"limits" json:"limits"`
	// ControlPlane is where the outbound services and routes come from:
	// mesh resources translated to xDS (`weft control`, or the in-process
	// one of `weft proxy --resources DIR`). Without it and without
	// Upstream, outbound requests get the mesh's no-route answer.
	ControlPlane *ControlPlane `yaml:"controlPlane" json:"controlPlane,omitempty"`
	// Upstream is the one-upstream quick mode; it excludes ControlPlane.
	Upstream *Upstream `yaml:"upstream" json:"upstream,omitempty"`
	// Register, with a control plane, registers this instance so that other
	// sidecars route to it, and keeps it registered while the app is healthy.
	Register *Registration `yaml:"register" json:"register,omitempty"`
	// Identity, with a control plane, gets this sidecar a workload
	// certificate (X.509-SVID) from the CA and keeps it renewed. It is
	// read at start; a reload does not change it. Default: none.
	Identity *Identity `yaml:"identity" json:"identity,omitempty"`
	// Tracing records spans and exports them over OTLP. Default: off,
	// unless the OTEL_EXPORTER_OTLP_* variables name a collector. Read at
	// start; a reload does not change it.
	Tracing *Tracing `yaml:"tracing" json:"tracing,omitempty"`
	// AccessLog writes a JSON line per request. Default: off. Read at
	// start; a reload does not change it.
	AccessLog *AccessLog `yaml:"accessLog" json:"accessLog,omitempty"`
	// Metrics shapes the request metrics: weft_* or Istio's names, labels
	// left out, histogram buckets, the series cap. Default: weft_* names,
	// every Istio label, Istio's buckets, 10,000 series.
	Metrics *Metrics `yaml:"metrics" json:"metrics,omitempty"`
}

// ControlPlane says where the control-plane replicas are.
type ControlPlane struct {
	// XDS lists the replicas' ADS addresses (host:port); the sidecar fails
	// over between them in order, with jittered backoff.
	XDS []string `yaml:"xds" json:"xds"`
	// API lists the replicas' admin API addresses, for registration.
	API []string `yaml:"api" json:"api"`
	// Services, when set, are the only services this sidecar calls
	// ("catalog" or "catalog.namespace"; outbound ports' services are
	// added): the control plane then sends it their config alone, so its
	// memory follows what it uses, not the size of the mesh. Empty: all.
	Services []string `yaml:"services" json:"services,omitempty"`
	// CacheDir keeps the last accepted config, and with identity the
	// current certificate and key (mode 0600), so a sidecar restarted while
	// the control plane is down serves what it served before. "" disables.
	CacheDir string `yaml:"cacheDir" json:"cacheDir,omitempty"`
	// CAFile is the control plane's CA bundle (PEM; weft control writes
	// it to DATA_DIR/ca.pem), to verify the control plane's TLS
	// certificate. Default: the bundle the join token's CA pin vouches
	// for at first contact, then the one the sidecar's certificate came
	// with. Used with identity only (without it, the control plane is an
	// in-process one on loopback, spoken to in plaintext).
	CAFile string `yaml:"caFile" json:"caFile,omitempty"`
}

// Registration describes this sidecar's instance. Defaults come from the
// first inbound listener: its bound address, and its app for the probe.
type Registration struct {
	Service string            `yaml:"service" json:"service"` // default: Config.Service
	ID      string            `yaml:"id" json:"id"`           // default: Config.Node
	Address string            `yaml:"address" json:"address"` // default: inbound[0]'s host
	Port    int               `yaml:"port" json:"port"`       // default: inbound[0]'s bound port
	Labels  map[string]string `yaml:"labels" json:"labels,omitempty"`
	// Zone is the instance's zone for other sidecars' locality-aware
	// balancing. Default: locality.zone.
	Zone  string `yaml:"zone" json:"zone,omitempty"`
	Probe Probe  `yaml:"probe" json:"probe"`
}

// Probe checks the local app; while it fails the instance is registered
// not-ready and receives no traffic.
type Probe struct {
	// HTTPPath probes with GET; any 2xx or 3xx passes. Empty: a TCP connect.
	HTTPPath string        `yaml:"httpPath" json:"httpPath,omitempty"`
	Interval time.Duration `yaml:"interval" json:"interval"` // default 1s
	Timeout  time.Duration `yaml:"timeout" json:"timeout"`   // default 1s
}

// Inbound is one listener that receives mesh traffic for the local app.
type Inbound struct {
	Name   string `yaml:"name" json:"name"`
	Listen string `yaml:"listen" json:"listen"` // host:port
	App    string `yaml:"app" json:"app"`       // the local app, host:port
	// Protocol the app speaks: http (HTTP/1.1 only: HTTP/2 requests are
	// converted, gRPC gets UNAVAILABLE), http2 (h2c or gRPC: HTTP/1.1
	// requests are converted), tcp, or auto (default): sniff each
	// connection; HTTP/1.1 goes as HTTP/1.1, HTTP/2 as HTTP/2 by prior
	// knowledge unless the app answers that as an HTTP/1 server, which is
	// then remembered for 30s and gets HTTP/2 converted to HTTP/1.1;
	// other bytes go as TCP.
	Protocol string `yaml:"protocol" json:"protocol"`
	// ServerFirst, with protocol auto, forwards a client that sends nothing
	// for limits.sniffTimeout as opaque TCP, for apps whose protocol has
	// the server speak first (MySQL, SMTP). Default false: a silent client
	// is an idle HTTP connection, closed at limits.idleTimeout, never a
	// tunnel. (protocol: tcp forwards every connection as TCP.)
	ServerFirst bool `yaml:"serverFirst" json:"serverFirst,omitempty"`
	// TrustForwardedHeaders believes the caller's X-Forwarded-For,
	// X-Forwarded-*, Forwarded, X-Real-IP and X-Weft-* headers, and appends
	// this hop. Default false: any client that reaches this port controls
	// them, so they are dropped and X-Forwarded-For and X-Forwarded-Proto
	// are set from the connection (Envoy's edge setting: use_remote_address
	// with xff_num_trusted_hops 0, its headers sanitised). Set it when only
	// trusted proxies reach this port. X-Mesh-Identity is always dropped.
	TrustForwardedHeaders bool `yaml:"trustForwardedHeaders" json:"trustForwardedHeaders,omitempty"`
	// MTLS is how this port takes mesh traffic when the sidecar has an
	// identity: STRICT (the default) terminates mTLS, checks the caller's
	// certificate against the trust bundle and refuses plaintext; PERMISSIVE
	// also serves plaintext callers, for a migration, and counts each one by
	// source address in weft_inbound_plaintext_connections_total. Either
	// way the app gets the verified caller in X-Forwarded-Client-Cert.
	// Needs identity: without it the port is plaintext. When the control
	// plane sets the sidecar's Service's spec.mtls.mode, that mode wins
	// over this field on every inbound port (see /config's inboundMTLS).
	MTLS string `yaml:"mtls" json:"mtls,omitempty"`
}

// Outbound holds the listeners the local app sends its requests to.
type Outbound struct {
	// Proxy is the explicit-proxy listener for HTTP_PROXY (absolute-form and
	// CONNECT) and for plain requests routed by Host. "" disables it.
	Proxy string         `yaml:"proxy" json:"proxy"`
	Ports []OutboundPort `yaml:"ports" json:"ports"`
	// Capture is the transparent-capture listener, where iptables
	// redirects every outbound TCP connection of an app that runs in its
	// own network namespace (`weft run --capture`). Default nil: none.
	Capture *Capture `yaml:"capture" json:"capture,omitempty"`
	// TrustForwardedHeaders believes the local app's X-Forwarded-*,
	// Forwarded and X-Real-IP headers (an app behind its own front proxy
	// passes its client on) and appends this hop. Default true: the app is
	// this sidecar's own workload. Set false when untrusted clients can
	// reach the outbound listeners. X-Weft-* and X-Mesh-Identity headers
	// from the app are always dropped.
	TrustForwardedHeaders *bool `yaml:"trustForwardedHeaders" json:"trustForwardedHeaders,omitempty"`
}

// trustApp reports the outbound side's TrustForwardedHeaders (default true).
func (o *Outbound) trustApp() bool { return o.TrustForwardedHeaders == nil || *o.TrustForwardedHeaders }

// OutboundPort binds one local port to one upstream service, so an app can
// call 127.0.0.1:PORT without knowing about the mesh.
type OutboundPort struct {
	Listen  string `yaml:"listen" json:"listen"`
	Service string `yaml:"service" json:"service"`
}

// Upstream is the one-upstream quick mode (`weft proxy --listen A
// --upstream B`): every outbound request, whatever its host, goes to
// Address. It is the shape of a benchmark hop; services and routes are
// mesh resources, served by a control plane or by `--resources DIR`.
type Upstream struct {
	// Address is the upstream's host:port.
	Address string `yaml:"address" json:"address"`
	// Protocol spoken to it: http (pooled HTTP/1.1, the default), http2
	// (multiplexed; also gRPC) or tcp (bytes forwarded as they come).
	Protocol string `yaml:"protocol" json:"protocol"`
}

// Limits are the downstream-facing caps and timeouts.
type Limits struct {
	MaxConnections int           `yaml:"maxConnections" json:"maxConnections"` // per listener; default 10000
	MaxHeaderBytes int           `yaml:"maxHeaderBytes" json:"maxHeaderBytes"` // default 32 KiB
	MaxHeaders     int           `yaml:"maxHeaders" json:"maxHeaders"`         // default 100
	HeaderTimeout  time.Duration `yaml:"headerTimeout" json:"headerTimeout"`   // default 10s
	IdleTimeout    time.Duration `yaml:"idleTimeout" json:"idleTimeout"`       // keep-alive and first-byte wait; default 60s
	RequestTimeout time.Duration `yaml:"requestTimeout" json:"requestTimeout"` // default 15s
	// SniffTimeout is how long a client of an inbound port with serverFirst
	// may stay silent before its connection is forwarded as TCP. Default 200ms.
	SniffTimeout time.Duration `yaml:"sniffTimeout" json:"sniffTimeout"`
	DrainTimeout time.Duration `yaml:"drainTimeout" json:"drainTimeout"` // default 20s
	// DrainDelay is how long a sidecar told to stop keeps accepting and
	// serving after it deregistered (its /ready fails at once), so the
	// control plane's endpoint removal reaches every caller before the
	// listeners close; DrainTimeout starts after it. Default 3s for a
	// sidecar that registers an instance, none otherwise.
	DrainDelay time.Duration `yaml:"drainDelay" json:"drainDelay"`
}

// maxConfigBytes caps a config file: anything larger is a mistake or an attack.
const maxConfigBytes = 4 << 20

// Load reads and validates a YAML config file.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("load config %s: %w", path, err)
	}
	return cfg, nil
}

// Parse decodes YAML strictly (unknown fields are errors), applies defaults
// and validates.
func Parse(data []byte) (*Config, error) {
	if len(data) > maxConfigBytes {
		return nil, fmt.Errorf("parse config: larger than %d bytes", maxConfigBytes)
	}
	if err := movedFields(data); err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &cfg, nil
}

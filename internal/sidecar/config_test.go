package sidecar

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadExample(t *testing.T) {
	cfg, err := Load("testdata/frontend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.HeaderTimeout != 5*time.Second || cfg.Limits.IdleTimeout != 60*time.Second {
		t.Errorf("limits defaults not applied: %+v", cfg.Limits)
	}
	if cfg.Inbound[0].Protocol != "auto" {
		t.Errorf("protocol defaults not applied")
	}
	if cfg.Outbound.Ports[0].Service != "catalog" || cfg.ControlPlane != nil || cfg.Upstream != nil {
		t.Errorf("outbound %+v controlPlane %v upstream %v", cfg.Outbound, cfg.ControlPlane, cfg.Upstream)
	}
}

func TestParseRejectsWithFieldPath(t *testing.T) {
	base, err := os.ReadFile("testdata/frontend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown field", "headerTimeout: 5s", "headerTimeout: 5s\n  speed: fast", "field speed not found"},
		{"bad address", "app: 127.0.0.1:8080", "app: nowhere", "inbound[0].app: must be host:port"},
		{"port clash", "listen: 127.0.0.1:9001", "listen: 127.0.0.1:15001", "outbound.ports[0].listen: address 127.0.0.1:15001 is already used by outbound.proxy"},
		{"bad service name", "service: catalog", "service: Catalog_1", "outbound.ports[0].service: must be SERVICE or SERVICE.NAMESPACE"},
		{"negative limit", "headerTimeout: 5s", "headerTimeout: -5s", "limits.headerTimeout: must be > 0"},
		{"bad app protocol", "app: 127.0.0.1:8080", "app: 127.0.0.1:8080\n    protocol: quic", "inbound[0].protocol: must be one of"},
		{"bad upstream", "limits:", "upstream: {address: 127.0.0.1:1, protocol: quic}\nlimits:", "upstream.protocol: must be one of http, http2, tcp"},
		{"bad sampling", "limits:", "tracing: {otlp: http://127.0.0.1:4318, sampling: 1.5}\nlimits:", "tracing.sampling: must be between 0 and 1; got 1.5"},
		{"bad otlp endpoint", "limits:", "tracing: {otlp: 127.0.0.1:4318}\nlimits:", "tracing.otlp: otlp endpoint \"127.0.0.1:4318\": want http://HOST:PORT"},
		{"bad otlp protocol", "limits:", "tracing: {otlp: http://127.0.0.1:4318, protocol: http/json}\nlimits:", "tracing.protocol: want \"grpc\" or \"http/protobuf\"; got \"http/json\""},
		{"grpc endpoint with a path", "limits:", "tracing: {otlp: http://127.0.0.1:4317/v1/traces, protocol: grpc}\nlimits:", "tracing.otlp: otlp endpoint \"http://127.0.0.1:4317/v1/traces\": OTLP/gRPC takes no path"},
		{"grpc endpoint without a port", "limits:", "tracing: {otlp: collector, protocol: grpc}\nlimits:", "tracing.otlp: otlp endpoint \"collector\": want HOST:PORT"},
		{"missing otlp certificate", "limits:", "tracing: {otlp: https://127.0.0.1:4317, protocol: grpc, certificate: /nonexistent/ca.pem}\nlimits:", "tracing.certificate: otlp certificate:"},
		{"unknown access log field", "limits:", "accessLog: {fields: [methd]}\nlimits:", "accessLog: access log field \"methd\": unknown"},
		{"upstream with control plane", "limits:", "upstream: {address: 127.0.0.1:1}\ncontrolPlane: {xds: [127.0.0.1:2]}\nlimits:", "upstream: quick mode excludes controlPlane"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := string(base)
			if !strings.Contains(src, tt.from) {
				t.Fatalf("fixture lacks %q", tt.from)
			}
			_, err := Parse([]byte(strings.Replace(src, tt.from, tt.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// The OTLP protocol comes from OpenTelemetry's variables when the file
// sets none, and a bad value names the variable.
func TestTracingProtocolFromEnv(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc")
	tr := &Tracing{}
	if p, from := tr.protocol(); p != "grpc" || from != "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL" {
		t.Fatalf("protocol %q from %s; want grpc from the traces variable", p, from)
	}
	// grpc makes a schemeless HOST:PORT valid (it is not for OTLP/HTTP).
	if _, err := Parse([]byte("tracing: {otlp: 127.0.0.1:4317, insecure: true}\n")); err != nil {
		t.Fatalf("grpc endpoint refused: %v", err)
	}
	tr.Protocol = "http/protobuf" // the file wins
	if p, _ := tr.protocol(); p != "http/protobuf" {
		t.Fatalf("file's protocol lost to the variable: %q", p)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift")
	_, err := Parse([]byte("tracing: {otlp: http://127.0.0.1:4318}\n"))
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: want") {
		t.Fatalf("error = %v, want it to name OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "")
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "yes please")
	_, err = Parse([]byte("tracing: {otlp: http://127.0.0.1:4318}\n"))
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_INSECURE") {
		t.Fatalf("error = %v, want it to name OTEL_EXPORTER_OTLP_INSECURE", err)
	}
}

// Services and routes are mesh resources now: a file that still has them
// is told where they went, with the line, instead of "field not found".
func TestParseRefusesMovedServicesAndRoutes(t *testing.T) {
	_, err := Parse([]byte("node: n1\nservices:\n  - name: catalog\nroutes: []\n"))
	if err == nil {
		t.Fatal("a file with services and routes was accepted")
	}
	for _, want := range []string{
		"services: line 2: moved to mesh resources: write a Service",
		"routes: line 4: moved to mesh resources: write an HTTPRoute",
		"weft apply, or pass --resources DIR",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	// controlPlane.services is the list of services a sidecar calls, not a
	// moved field.
	if _, err := Parse([]byte("controlPlane: {xds: [127.0.0.1:1], services: [catalog]}\n")); err != nil {
		t.Fatalf("controlPlane.services: %v", err)
	}
}

func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse([]byte("inbound: [{listen: nowhere, app: 127.0.0.1:1}]\nlimits: {headerTimeout: -1s}\n"))
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"inbound[0].listen", "limits.headerTimeout"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/frontend.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("outbound: {ports: [{listen: '[::1]:0', service: a}]}\nupstream: {address: '[::1]:80', protocol: http2}"))
	f.Add([]byte("services: [{name: a}]\nroutes: [{service: x}]"))
	f.Add([]byte("- services\n"))
	f.Add([]byte("inbound: [{listen: '127.0.0.1:0', app: '127.0.0.1:1', trustForwardedHeaders: true}]\noutbound: {trustForwardedHeaders: false}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}

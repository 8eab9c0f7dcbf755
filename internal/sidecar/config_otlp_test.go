package sidecar

import (
	"maps"
	"strings"
	"testing"
)

// The export headers come from the field, else OpenTelemetry's variables
// in their key=value,key=value form with percent-encoded values; a
// malformed variable is refused naming it.
func TestOTLPHeadersFromEnv(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "api-key=abc%20def, tenant=7")
	h, from, err := (&Tracing{}).headers()
	if err != nil || from != "OTEL_EXPORTER_OTLP_HEADERS" || !maps.Equal(h, map[string]string{"api-key": "abc def", "tenant": "7"}) {
		t.Errorf("generic variable: %v from %s, %v", h, from, err)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-traces=1")
	if h, _, _ := (&Tracing{}).headers(); !maps.Equal(h, map[string]string{"x-traces": "1"}) {
		t.Errorf("the traces variable must win: %v", h)
	}
	if h, _, _ := (&Tracing{Headers: map[string]string{"a": "b"}}).headers(); !maps.Equal(h, map[string]string{"a": "b"}) {
		t.Errorf("the field must win: %v", h)
	}
	for _, bad := range []string{"novalue", "=v", "bad name=v", "k=%zz", "k=a%0Db"} {
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", bad)
		_, err := Parse([]byte("service: web\ntracing: {otlp: 'http://127.0.0.1:4318'}\n"))
		if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_TRACES_HEADERS") {
			t.Errorf("%q: error %v, want one naming the variable", bad, err)
		}
	}
}

// $OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: over HTTP /v1/traces is
// appended to its path; the field and the traces variable keep theirs.
func TestOTLPGenericEndpointPath(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/otel")
	if got := (&Tracing{}).exportEndpoint("http/protobuf"); got != "http://c:4318/otel/v1/traces" {
		t.Errorf("generic with a path: %q", got)
	}
	if got := (&Tracing{}).exportEndpoint("grpc"); got != "http://c:4318/otel" {
		t.Errorf("grpc: %q", got)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318")
	if got := (&Tracing{}).exportEndpoint("http/protobuf"); got != "http://c:4318" {
		t.Errorf("generic without a path (the exporter appends /v1/traces): %q", got)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t:4318/custom")
	if got := (&Tracing{}).exportEndpoint("http/protobuf"); got != "http://t:4318/custom" {
		t.Errorf("traces variable: %q, want as given", got)
	}
	if got := (&Tracing{OTLP: "http://f:4318/x"}).exportEndpoint("http/protobuf"); got != "http://f:4318/x" {
		t.Errorf("field: %q, want as given", got)
	}
}

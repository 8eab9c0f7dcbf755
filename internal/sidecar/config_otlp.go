package sidecar

import (
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/weft-mesh/weft/internal/telemetry/otlp"
)

// The OTLP exporter settings follow OpenTelemetry's exporter
// configuration: the file's field, else the traces-specific variable,
// else the general one. Each returns where its value came from, so an
// error names the field or variable the user set.

// fromEnv is the first set variable of names, and its name.
func fromEnv(names ...string) (string, string) {
	for _, n := range names {
		if v := os.Getenv(n); v != "" {
			return v, n
		}
	}
	return "", ""
}

func (t *Tracing) protocol() (string, string) {
	if t != nil && t.Protocol != "" {
		return t.Protocol, "tracing.protocol"
	}
	if v, from := fromEnv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"); v != "" {
		return v, from
	}
	return otlp.ProtocolHTTP, "tracing.protocol"
}

func (t *Tracing) insecure() (bool, string, error) {
	if t != nil && t.Insecure != nil {
		return *t.Insecure, "tracing.insecure", nil
	}
	v, from := fromEnv("OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_INSECURE")
	if v == "" {
		return false, "tracing.insecure", nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, from, fmt.Errorf("%s %q: want true or false", from, v)
	}
	return b, from, nil
}

func (t *Tracing) certificate() (string, string) {
	if t != nil && t.Certificate != "" {
		return t.Certificate, "tracing.certificate"
	}
	return fromEnv("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "OTEL_EXPORTER_OTLP_CERTIFICATE")
}

// exportEndpoint is the endpoint the exporter is given. OpenTelemetry's
// rule for the signal-generic $OTEL_EXPORTER_OTLP_ENDPOINT over HTTP:
// it is a base URL, and /v1/traces is appended to its path, whatever that
// path is (http://c:4318/otel → http://c:4318/otel/v1/traces); the field
// and the traces-specific variable keep their own path.
func (t *Tracing) exportEndpoint(proto string) string {
	ep := t.endpoint()
	if proto != otlp.ProtocolHTTP || (t != nil && t.OTLP != "") || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		return ep
	}
	if u, err := url.Parse(ep); err == nil && u.Path != "" && u.Path != "/" {
		return strings.TrimSuffix(ep, "/") + "/v1/traces"
	}
	return ep
}

// headers are the export's extra headers: the field's, else
// $OTEL_EXPORTER_OTLP_TRACES_HEADERS, else $OTEL_EXPORTER_OTLP_HEADERS, in
// OpenTelemetry's form: key=value pairs separated by commas, values
// percent-encoded (api-key=abc%20def,tenant=7).
func (t *Tracing) headers() (map[string]string, string, error) {
	if t != nil && t.Headers != nil {
		return t.Headers, "tracing.headers", nil
	}
	v, from := fromEnv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS")
	if v == "" {
		return nil, "tracing.headers", nil
	}
	h, err := parseOTLPHeaders(v)
	if err != nil {
		return nil, from, err
	}
	return h, from, nil
}

// maxOTLPHeaders caps the pairs read from the environment.
const maxOTLPHeaders = 64

func parseOTLPHeaders(v string) (map[string]string, error) {
	out := map[string]string{}
	for i, pair := range strings.Split(v, ",") {
		if strings.TrimSpace(pair) == "" {
			continue
		}
		if len(out) == maxOTLPHeaders {
			return nil, fmt.Errorf("more than %d headers", maxOTLPHeaders)
		}
		k, val, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("pair %d: want key=value; got %q", i+1, pair)
		}
		if !headerToken(k) {
			return nil, fmt.Errorf("pair %d: %q is not a header name", i+1, k)
		}
		dec, err := url.PathUnescape(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("pair %d (%s): value: %w", i+1, k, err)
		}
		if strings.ContainsAny(dec, "\r\n\x00") {
			return nil, fmt.Errorf("pair %d (%s): the value has characters a header may not carry", i+1, k)
		}
		out[k] = dec
	}
	return out, nil
}

// headerToken reports whether s is an HTTP field name (RFC 9110 token).
func headerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0 {
			continue
		}
		return false
	}
	return s != ""
}

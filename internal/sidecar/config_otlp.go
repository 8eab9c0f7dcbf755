package sidecar

import (
	"fmt"
	"os"
	"strconv"

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

package cli

import (
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/api"
)

func TestDescribeInboundMTLS(t *testing.T) {
	var b strings.Builder
	describeInboundMTLS(&b, map[string]any{"mtls": map[string]any{"mode": "STRICT"}}, []api.Instance{{ID: "a", MTLS: true}, {ID: "b"}})
	out := b.String()
	if !strings.Contains(out, "Inbound mTLS: STRICT (spec.mtls.mode") || !strings.Contains(out, "b: its sidecar has no identity") || strings.Contains(out, "a: its") {
		t.Errorf("with a mode:\n%s", out)
	}
	b.Reset()
	describeInboundMTLS(&b, map[string]any{"ports": []any{}}, []api.Instance{{ID: "b"}})
	if out := b.String(); !strings.Contains(out, "each sidecar's own inbound[].mtls") || strings.Contains(out, "NACK") {
		t.Errorf("without a mode:\n%s", out)
	}
}

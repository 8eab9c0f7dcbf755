package cli

import (
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// explain --inbound shows the inbound port's mTLS mode and who set it.
func TestRenderExplainInboundMTLS(t *testing.T) {
	var b strings.Builder
	e := sidecar.Explanation{Authz: &sidecar.ExplainedAuthz{Decision: "allow", Reason: "r", MTLS: "PERMISSIVE", MTLSSource: "controlPlane"}}
	if err := renderExplain(&b, e); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Inbound mTLS: PERMISSIVE (set by controlPlane)") {
		t.Errorf("no mode line in:\n%s", b.String())
	}
	b.Reset()
	e.Authz.MTLS = ""
	if err := renderExplain(&b, e); err != nil || strings.Contains(b.String(), "Inbound mTLS") {
		t.Errorf("a mode line without a mode (%v):\n%s", err, b.String())
	}
}

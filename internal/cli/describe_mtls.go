package cli

import (
	"fmt"
	"io"

	"github.com/weft-mesh/weft/internal/api"
)

// describeInboundMTLS says which inbound mTLS mode a Service's sidecars
// run and where it comes from, and names the instances whose sidecar has
// no identity: they reject (NACK) a mode set on the Service.
func describeInboundMTLS(w io.Writer, spec map[string]any, ins []api.Instance) {
	mode := ""
	if m, ok := spec["mtls"].(map[string]any); ok {
		mode, _ = m["mode"].(string)
	}
	if mode == "" {
		fmt.Fprintln(w, "\nInbound mTLS: each sidecar's own inbound[].mtls (STRICT with an identity); no spec.mtls")
		return
	}
	fmt.Fprintf(w, "\nInbound mTLS: %s (spec.mtls.mode, over each sidecar's inbound[].mtls)\n", mode)
	for _, in := range ins {
		if !in.MTLS {
			fmt.Fprintf(w, "  %s: its sidecar has no identity and rejects this mode (NACK)\n", in.ID)
		}
	}
}

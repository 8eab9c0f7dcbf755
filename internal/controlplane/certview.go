package controlplane

import (
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/identity"
)

// workloadID names the SPIFFE ID this control plane's CA issues to an
// instance's sidecar, for the stats' certificate rows: the sidecars'
// gauges carry the expiry but not the ID. An instance without mTLS has
// none ("").
func workloadID(td spiffeid.TrustDomain) func(api.Instance) string {
	return func(in api.Instance) string {
		if !in.MTLS {
			return ""
		}
		w, err := identity.For(td, identity.DefaultNamespace, in.Service)
		if err != nil {
			return ""
		}
		return w.String()
	}
}

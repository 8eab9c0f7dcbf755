package controlplane

import (
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/identity"
)

// workloadID names an instance's SPIFFE ID for the stats' certificate
// rows (the sidecars' gauges carry the expiry but not the ID): the
// verified identity that registered it, else, for an mTLS instance the
// operator registered, the ID this CA issues to its service in the
// default namespace. An instance without mTLS has none ("").
func workloadID(td spiffeid.TrustDomain) func(api.Instance) string {
	return func(in api.Instance) string {
		if in.Principal != "" {
			return in.Principal
		}
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

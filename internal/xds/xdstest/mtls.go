package xdstest

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// peerIDsFromXDS reads the SPIFFE IDs of the transport socket match on
// tlsMode=mtls: the URI SAN matchers of its UpstreamTlsContext, from the
// combined validation context or the plain one.
func peerIDsFromXDS(c *clusterv3.Cluster) ([]string, error) {
	for _, m := range c.GetTransportSocketMatches() {
		if len(m.GetMatch().GetFields()) == 0 {
			return nil, nil // a catch-all first: Envoy's first match wins
		}
		if m.GetMatch().GetFields()["tlsMode"].GetStringValue() != "mtls" {
			continue
		}
		var u tlsv3.UpstreamTlsContext
		if err := m.GetTransportSocket().GetTypedConfig().UnmarshalTo(&u); err != nil {
			return nil, fmt.Errorf("transport socket %s: %w", m.GetName(), err)
		}
		vc := u.GetCommonTlsContext().GetValidationContext()
		if cv := u.GetCommonTlsContext().GetCombinedValidationContext(); cv != nil {
			vc = cv.GetDefaultValidationContext()
		}
		var ids []string
		for _, s := range vc.GetMatchTypedSubjectAltNames() {
			if s.GetSanType() != tlsv3.SubjectAltNameMatcher_URI || s.GetMatcher().GetExact() == "" {
				return nil, fmt.Errorf("transport socket %s: only exact URI SAN matchers", m.GetName())
			}
			ids = append(ids, s.GetMatcher().GetExact())
		}
		return ids, nil
	}
	return nil, nil
}

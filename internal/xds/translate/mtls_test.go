package translate

import (
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// TestMeshTLSSecureNaming: a cluster of mTLS instances admits only the
// service's identity in the CA's trust domain; a cluster with none gets no
// transport socket matches at all.
func TestMeshTLSSecureNaming(t *testing.T) {
	in := input(t)
	in.TrustDomain = "prod.example"
	snap, err := Translate(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, c := range snap.Clusters {
		ms := c.GetTransportSocketMatches()
		if c.Name != "catalog.default" && c.Name != "catalog.default/v1" && c.Name != "catalog.default/v2" {
			if len(ms) != 0 {
				t.Errorf("%s: matches %v without mTLS instances", c.Name, ms)
			}
			continue
		}
		seen++
		if len(ms) != 2 || ms[0].GetMatch().GetFields()[TLSModeKey].GetStringValue() != TLSModeMTLS || len(ms[1].GetMatch().GetFields()) != 0 {
			t.Fatalf("%s: matches %v", c.Name, ms)
		}
		var u tlsv3.UpstreamTlsContext
		if err := ms[0].GetTransportSocket().GetTypedConfig().UnmarshalTo(&u); err != nil {
			t.Fatal(err)
		}
		sans := u.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames()
		if len(sans) != 1 || sans[0].GetSanType() != tlsv3.SubjectAltNameMatcher_URI ||
			sans[0].GetMatcher().GetExact() != "spiffe://prod.example/ns/default/sa/catalog" {
			t.Errorf("%s: SAN matchers %v", c.Name, sans)
		}
	}
	if seen == 0 {
		t.Fatal("no catalog cluster")
	}
	marked := 0
	for _, e := range snap.Endpoints {
		for _, l := range e.GetEndpoints() {
			for _, lb := range l.GetLbEndpoints() {
				if lb.GetMetadata().GetFilterMetadata()[TransportSocketMatchKey].GetFields()[TLSModeKey].GetStringValue() == TLSModeMTLS {
					marked++
					if lb.GetEndpoint().GetAddress().GetSocketAddress().GetAddress() != "10.0.0.1" {
						t.Errorf("%s: endpoint %v marked mTLS", e.ClusterName, lb)
					}
				}
			}
		}
	}
	if marked == 0 {
		t.Error("the mTLS instance is not marked")
	}
}

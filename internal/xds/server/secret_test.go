package server

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

func withBundle(s *translate.Snapshot, pem string) *translate.Snapshot {
	s.Secrets = []*tlsv3.Secret{{Name: translate.SDSRootName, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
		TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: []byte(pem)}}}}}}
	return s
}

// TestTrustBundleSecret: the trust bundle is served as the SDS secret
// ROOTCA to a subscriber by name, and a new bundle (a root rotation step)
// is pushed as SDS alone, with its ACK recorded per proxy.
func TestTrustBundleSecret(t *testing.T) {
	srv, s := start(t, true)
	v1, err := Marshal("1", withBundle(snapshot("a"), "old"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(v1)
	subs := map[string][]string{EndpointType: {"a"}, RouteType: {translate.OutboundRoute}, SecretType: {translate.SDSRootName}}
	for _, typ := range []string{ClusterType, EndpointType, RouteType, SecretType} {
		s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: subs[typ]})
	}
	_, got := recvTypes(t, s, 4, subs)
	r := got[SecretType]
	if r == nil || len(r.Resources) != 1 {
		t.Fatalf("sds: %v", r)
	}
	var sec tlsv3.Secret
	if err := r.Resources[0].UnmarshalTo(&sec); err != nil || sec.GetName() != "ROOTCA" || string(sec.GetValidationContext().GetTrustedCa().GetInlineBytes()) != "old" {
		t.Fatalf("secret %v, %v", &sec, err)
	}
	v2, err := MarshalFrom(v1, "2", withBundle(snapshot("a"), "old+new"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(v2)
	order, got := recvTypes(t, s, 1, subs)
	if order[0] != "SDS" || got[SecretType].VersionInfo != "2" {
		t.Fatalf("bundle-only push: %v", order)
	}
	waitSynced(t, srv, "2", 4)
	if p := srv.Proxies(); len(p) != 1 || p[0].Acked["SDS"] != "2" {
		t.Fatalf("proxies: %+v", p)
	}
}

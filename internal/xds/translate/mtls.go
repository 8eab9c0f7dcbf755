package translate

import (
	"fmt"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rawv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/raw_buffer/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/registry"
)

// Mesh mTLS travels as Istio sends it: an endpoint whose sidecar has a
// workload certificate carries tlsMode in its transport socket match
// metadata, and the cluster's transport_socket_matches give such endpoints
// an UpstreamTlsContext and the others a raw buffer, so one cluster can mix
// both while a service migrates.
const (
	// TransportSocketMatchKey is Envoy's filter metadata key that
	// transport_socket_matches read on endpoints.
	TransportSocketMatchKey = "envoy.transport_socket_match"
	// TLSModeKey and TLSModeMTLS mark an endpoint that takes mesh mTLS.
	TLSModeKey  = "tlsMode"
	TLSModeMTLS = "mtls"
	// MTLSMatchName and PlaintextMatchName name the two matches.
	MTLSMatchName      = "tlsMode-mtls"
	PlaintextMatchName = "tlsMode-disabled"
	// SDS names of the sidecar's certificate and trust bundle (Istio's).
	// The certificate is the sidecar's own (its key never leaves it); the
	// bundle is pushed as an SDS Secret of that name on the ADS stream.
	SDSCertName = "default"
	SDSRootName = "ROOTCA"
)

func mtlsMatch() *structpb.Struct {
	return &structpb.Struct{Fields: map[string]*structpb.Value{TLSModeKey: structpb.NewStringValue(TLSModeMTLS)}}
}

// ServiceID is the SPIFFE ID allowed to serve svc: the one its join tokens
// issue (weft token create --service NAME --namespace NS).
func ServiceID(trustDomain string, svc *mesh.Service) (string, error) {
	if trustDomain == "" {
		trustDomain = identity.DefaultTrustDomain
	}
	td, err := identity.ParseTrustDomain(trustDomain)
	if err != nil {
		return "", err
	}
	w, err := identity.For(td, svc.Metadata.Namespace, svc.Metadata.Name)
	if err != nil {
		return "", err
	}
	return w.String(), nil
}

// meshTLS adds the transport socket matches to c when any instance of svc
// takes mesh mTLS. The UpstreamTlsContext's SAN matcher is secure naming:
// the server's URI SAN must be the service's identity.
func meshTLS(c *clusterv3.Cluster, trustDomain string, svc *mesh.Service, insts []registry.Instance) error {
	has := false
	for _, in := range insts {
		has = has || in.MTLS
	}
	if !has {
		return nil
	}
	id, err := ServiceID(trustDomain, svc)
	if err != nil {
		return fmt.Errorf("translate cluster %s: service identity: %w", c.Name, err)
	}
	utc, err := anypb.New(&tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: SDSCertName}},
		ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{
			CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext: &tlsv3.CertificateValidationContext{
					MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{
						SanType: tlsv3.SubjectAltNameMatcher_URI,
						Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: id}},
					}},
				},
				ValidationContextSdsSecretConfig: &tlsv3.SdsSecretConfig{Name: SDSRootName},
			},
		},
	}})
	if err != nil {
		return fmt.Errorf("translate cluster %s: %w", c.Name, err)
	}
	raw, err := anypb.New(&rawv3.RawBuffer{})
	if err != nil {
		return fmt.Errorf("translate cluster %s: %w", c.Name, err)
	}
	c.TransportSocketMatches = []*clusterv3.Cluster_TransportSocketMatch{
		{Name: MTLSMatchName, Match: mtlsMatch(), TransportSocket: &corev3.TransportSocket{
			Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: utc}}},
		{Name: PlaintextMatchName, Match: &structpb.Struct{}, TransportSocket: &corev3.TransportSocket{
			Name: "envoy.transport_sockets.raw_buffer", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: raw}}},
	}
	return nil
}

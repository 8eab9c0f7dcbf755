package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// ProtocolField, in a Cluster's filter_metadata[MetadataKey], says what
// the cluster's endpoints speak when it is not HTTP ("tcp"). Envoy has no
// cluster-level marker for a TCP-only service (a listener's filter chain,
// tcp_proxy, decides that), so Weft's sidecars read it here, where other
// xDS clients ignore it. A Service is TCP when every port is declared tcp.
const ProtocolField = "protocol"

// protocolMetadata is a TCP Service's cluster metadata, nil for others.
func protocolMetadata(svc *mesh.Service) *corev3.Metadata {
	if !tcpOnly(svc) {
		return nil
	}
	return &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataKey: {
		Fields: map[string]*structpb.Value{ProtocolField: structpb.NewStringValue("tcp")},
	}}}
}

func tcpOnly(svc *mesh.Service) bool {
	if len(svc.Spec.Ports) == 0 {
		return false
	}
	for _, p := range svc.Spec.Ports {
		if p.Protocol != "tcp" {
			return false
		}
	}
	return true
}

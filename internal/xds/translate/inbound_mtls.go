package translate

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// A Service's inbound mTLS mode travels as Envoy (and Istio) express it: a
// TLS inspector listener filter, which sets a connection's transport
// protocol from its first bytes, and filter chains chosen by it. STRICT
// has one chain, for "tls"; PERMISSIVE adds a "raw_buffer" one, so a
// plaintext caller has a chain to land on. A Service without spec.mtls
// keeps the one unmatched chain, which leaves each sidecar its own mode.
const (
	// TLSInspectorFilter is the name Envoy registers its TLS inspector under.
	TLSInspectorFilter = "envoy.filters.listener.tls_inspector"
	// TransportTLS and TransportRaw are the transport protocols the TLS
	// inspector reports.
	TransportTLS = "tls"
	TransportRaw = "raw_buffer"
)

// inboundChains are the filter chains of svc's inbound listener around its
// one network filter (the same filter, so the same bytes, in each chain),
// and the listener filters they need.
func inboundChains(svc *mesh.Service, f *listenerv3.Filter) ([]*listenerv3.FilterChain, []*listenerv3.ListenerFilter, error) {
	m := svc.Spec.MTLS
	if m == nil {
		return []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{f}}}, nil, nil
	}
	insp, err := anypb.New(&tlsinspectorv3.TlsInspector{})
	if err != nil {
		return nil, nil, err
	}
	lfs := []*listenerv3.ListenerFilter{{Name: TLSInspectorFilter, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: insp}}}
	chains := []*listenerv3.FilterChain{{
		FilterChainMatch: &listenerv3.FilterChainMatch{TransportProtocol: TransportTLS},
		Filters:          []*listenerv3.Filter{f},
	}}
	if m.Mode == mesh.MTLSPermissive {
		chains = append(chains, &listenerv3.FilterChain{
			FilterChainMatch: &listenerv3.FilterChainMatch{TransportProtocol: TransportRaw},
			Filters:          []*listenerv3.Filter{f},
		})
	}
	return chains, lfs, nil
}

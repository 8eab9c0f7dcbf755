package xdstest

import (
	"fmt"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	"google.golang.org/protobuf/proto"
)

// InboundMTLSFromListener is the mTLS mode an inbound listener sets, with
// go-control-plane's full types: "" for one chain without a match (the
// sidecar keeps its own mode), STRICT for a lone "tls" chain, PERMISSIVE
// for "tls" and "raw_buffer" chains, both behind the TLS inspector and
// holding the same filters.
func InboundMTLSFromListener(l *listenerv3.Listener) (string, error) {
	if len(l.FilterChains) == 1 && l.FilterChains[0].FilterChainMatch == nil {
		return "", nil
	}
	if len(l.ListenerFilters) != 1 || !l.ListenerFilters[0].GetTypedConfig().MessageIs(&tlsinspectorv3.TlsInspector{}) {
		return "", fmt.Errorf("listener %s: matching on transport protocol without the TLS inspector", l.Name)
	}
	tps := map[string]bool{}
	for _, fc := range l.FilterChains {
		want := &listenerv3.FilterChainMatch{TransportProtocol: fc.GetFilterChainMatch().GetTransportProtocol()}
		if !proto.Equal(fc.GetFilterChainMatch(), want) {
			return "", fmt.Errorf("listener %s: a chain matches on more than the transport protocol", l.Name)
		}
		if !proto.Equal(fc, &listenerv3.FilterChain{FilterChainMatch: want, Filters: l.FilterChains[0].Filters}) {
			return "", fmt.Errorf("listener %s: chains differ beyond their match", l.Name)
		}
		tps[want.TransportProtocol] = true
	}
	switch {
	case len(tps) == 1 && tps["tls"] && len(l.FilterChains) == 1:
		return "STRICT", nil
	case len(tps) == 2 && tps["tls"] && tps["raw_buffer"] && len(l.FilterChains) == 2:
		return "PERMISSIVE", nil
	}
	return "", fmt.Errorf("listener %s: transport protocols %v are no mTLS mode", l.Name, tps)
}

package client

import (
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// Inbound mTLS modes a Service's inbound listener carries (Update.InboundMTLS).
const (
	MTLSStrict     = "STRICT"
	MTLSPermissive = "PERMISSIVE"
)

// Envoy's names for the TLS inspector and the transport protocols it sets.
const (
	tlsInspectorName    = "envoy.filters.listener.tls_inspector"
	tlsInspectorMsgName = "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector"
	transportTLS        = "tls"
	transportRaw        = "raw_buffer"
)

// maxInboundChains caps an inbound listener's filter chains: one per
// transport protocol.
const maxInboundChains = 2

// inboundChain reads an inbound listener's filter chains as a mesh mTLS
// mode: one chain without a match leaves the sidecar its own mode (""); a
// "tls" chain behind the TLS inspector is STRICT, with a "raw_buffer" one
// beside it PERMISSIVE. Every chain must hold the same filters, since the
// sidecar runs one filter set per inbound whatever the transport. It
// returns the chain whose filters to decode.
func inboundChain(l *envoypb.Listener, name string) (*envoypb.FilterChain, string, error) {
	chains := l.GetFilterChains()
	p := "listener " + name
	if len(chains) == 0 || len(chains) > maxInboundChains {
		return nil, "", unsupported(p+".filter_chains", "an inbound listener with other than one filter chain, or two told apart by transport protocol")
	}
	for i, fc := range chains {
		if len(fc.GetFilters()) != 1 {
			return nil, "", unsupported(fmt.Sprintf("%s.filter_chains[%d].filters", p, i), "other than one filter")
		}
		if i > 0 && !proto.Equal(fc.GetFilters()[0], chains[0].GetFilters()[0]) {
			return nil, "", unsupported(fmt.Sprintf("%s.filter_chains[%d].filters", p, i), "filters that differ by transport protocol")
		}
	}
	if err := inboundListenerFilters(l.GetListenerFilters(), p); err != nil {
		return nil, "", err
	}
	if len(chains) == 1 && chains[0].GetFilterChainMatch() == nil {
		return chains[0], "", nil
	}
	seen := map[string]bool{}
	for i, fc := range chains {
		tp, err := transportOnly(fc.GetFilterChainMatch(), fmt.Sprintf("%s.filter_chains[%d].filter_chain_match", p, i))
		if err != nil {
			return nil, "", err
		}
		if seen[tp] {
			return nil, "", invalid(fmt.Sprintf("%s.filter_chains[%d].filter_chain_match.transport_protocol", p, i), "duplicate %q", tp)
		}
		seen[tp] = true
	}
	if !seen[transportTLS] {
		return nil, "", unsupported(p+".filter_chains", "an inbound listener without a %q chain (plaintext only)", transportTLS)
	}
	if len(l.GetListenerFilters()) == 0 {
		return nil, "", invalid(p+".listener_filters", "matching on transport_protocol needs the %s listener filter", tlsInspectorName)
	}
	if seen[transportRaw] {
		return chains[0], MTLSPermissive, nil
	}
	return chains[0], MTLSStrict, nil
}

// inboundListenerFilters accepts the TLS inspector alone, without options
// (the sidecar always inspects the first bytes its own way).
func inboundListenerFilters(lfs []*envoypb.SocketListenerFilter, p string) error {
	if len(lfs) > 1 {
		return unsupported(p+".listener_filters", "listener filters other than one %s", tlsInspectorName)
	}
	for i, lf := range lfs {
		q := fmt.Sprintf("%s.listener_filters[%d]", p, i)
		switch {
		case lf.GetFilterDisabled() != nil:
			return unsupported(q+".filter_disabled", "disabling a listener filter")
		case lf.GetName() != tlsInspectorName || !anyIs(lf.GetTypedConfig(), tlsInspectorMsgName):
			return unsupported(q, "listener filter %q", lf.GetName())
		case len(lf.GetTypedConfig().GetValue()) != 0:
			return unsupported(q+".typed_config", "TLS inspector options")
		}
	}
	return nil
}

// transportOnly is a filter chain match's transport protocol, which must
// be its only criterion.
func transportOnly(m *envoypb.FilterChainMatch, p string) (string, error) {
	if m == nil {
		return "", unsupported(p, "a chain without a match beside matched ones")
	}
	if m.GetDestinationPort() != nil || len(m.GetPrefixRanges()) > 0 || m.GetAddressSuffix() != "" || m.GetSuffixLen() != nil ||
		len(m.GetDirectSourcePrefixRanges()) > 0 || m.GetSourceType() != envoypb.FilterChainMatch_ANY || len(m.GetSourcePrefixRanges()) > 0 ||
		len(m.GetSourcePorts()) > 0 || len(m.GetServerNames()) > 0 || len(m.GetApplicationProtocols()) > 0 {
		return "", unsupported(p, "match criteria other than transport_protocol")
	}
	switch tp := m.GetTransportProtocol(); tp {
	case transportTLS, transportRaw:
		return tp, nil
	default:
		return "", unsupported(p+".transport_protocol", "%q (want %q or %q)", tp, transportTLS, transportRaw)
	}
}

package client

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// Mesh mTLS as translate sends it (its constants, duplicated so translate
// is not linked): endpoints marked tlsMode=mtls in the transport socket
// match metadata get the cluster's UpstreamTlsContext, the others a raw
// buffer. Any other shape is refused, not half-read.
const (
	transportSocketMatchKey = "envoy.transport_socket_match"
	tlsModeKey              = "tlsMode"
	tlsModeMTLS             = "mtls"
	tlsSocketName           = "envoy.transport_sockets.tls"
	rawSocketName           = "envoy.transport_sockets.raw_buffer"
	upstreamTLSMsgName      = "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
	rawBufferMsgName        = "envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"
	// maxPeerIDs caps the identities allowed to serve one cluster.
	maxPeerIDs = 64
	// maxTransportMatches caps a cluster's transport socket matches.
	maxTransportMatches = 64
)

// transportMatchesToProxy reads a cluster's transport_socket_matches onto
// cc.PeerIDs: the SPIFFE IDs allowed to serve it. As in Envoy the first
// match that applies wins, so a catch-all ends the list; Weft reads
// matches on tlsMode=mtls (an UpstreamTlsContext) and a raw-buffer
// catch-all, and refuses other criteria rather than misread them.
func transportMatchesToProxy(ms []*envoypb.Cluster_TransportSocketMatch, cc *cluster.Config) error {
	if len(ms) > maxTransportMatches {
		return overLimit("transport_socket_matches", maxTransportMatches)
	}
	for i, m := range ms {
		field := fmt.Sprintf("transport_socket_matches[%d]", i)
		if err := capped(field+".name", m.GetName(), maxName); err != nil {
			return err
		}
		fields := m.GetMatch().GetFields()
		ts := m.GetTransportSocket()
		switch {
		case len(fields) == 0:
			if ts.GetName() != rawSocketName || ts.GetTypedConfig() != nil && !anyIs(ts.GetTypedConfig(), rawBufferMsgName) {
				return unsupported(field+".transport_socket", "a catch-all must be %s", rawSocketName)
			}
			return nil // later matches are unreachable
		case len(fields) == 1 && fields[tlsModeKey].GetStringValue() == tlsModeMTLS:
			ids, err := upstreamTLSToProxy(field+".transport_socket", ts)
			if err != nil {
				return err
			}
			if cc.PeerIDs == nil {
				cc.PeerIDs = ids // the first match on the mark wins
			}
		default:
			return unsupported(field+".match", "Weft reads a match on %s=%s and a catch-all", tlsModeKey, tlsModeMTLS)
		}
	}
	return nil
}

// upstreamTLSToProxy reads the SPIFFE IDs an UpstreamTlsContext admits:
// exact URI SAN matchers. The certificate and roots are the sidecar's own
// (SDS names are not looked up); settings it would not honour are refused.
func upstreamTLSToProxy(field string, ts *envoypb.TransportSocket) ([]string, error) {
	if ts.GetName() != tlsSocketName || !anyIs(ts.GetTypedConfig(), upstreamTLSMsgName) {
		return nil, unsupported(field, "must be %s with an UpstreamTlsContext", tlsSocketName)
	}
	var u envoypb.UpstreamTlsContext
	if err := unmarshal(ts.GetTypedConfig().GetValue(), &u); err != nil {
		return nil, fmt.Errorf("%s: %w", field, err)
	}
	ctx := u.GetCommonTlsContext()
	switch {
	case u.GetSni() != "":
		return nil, unsupported(field+".sni", "mesh mTLS sends no SNI")
	case len(ctx.GetAlpnProtocols()) > 0:
		return nil, unsupported(field+".common_tls_context.alpn_protocols", "ALPN follows what each request speaks")
	}
	vc := ctx.GetValidationContext()
	if c := ctx.GetCombinedValidationContext(); c != nil {
		vc = c.GetDefaultValidationContext()
	}
	sans := vc.GetMatchTypedSubjectAltNames()
	if len(sans) == 0 {
		return nil, invalid(field, "no match_typed_subject_alt_names: any workload could serve the cluster")
	}
	if len(sans) > maxPeerIDs {
		return nil, overLimit(field+".match_typed_subject_alt_names", maxPeerIDs)
	}
	ids := make([]string, 0, len(sans))
	for j, s := range sans {
		sf := fmt.Sprintf("%s.match_typed_subject_alt_names[%d]", field, j)
		if s.GetSanType() != envoypb.SubjectAltNameMatcher_URI {
			return nil, unsupported(sf+".san_type", "only URI (a SPIFFE ID) names a workload")
		}
		ex, ok := s.GetMatcher().GetMatchPattern().(*envoypb.StringMatcher_Exact)
		if !ok || s.GetMatcher().GetIgnoreCase() {
			return nil, unsupported(sf+".matcher", "only a case-sensitive exact SPIFFE ID")
		}
		if err := capped(sf+".matcher.exact", ex.Exact, maxName); err != nil {
			return nil, err
		}
		if !nonEmpty(ex.Exact) {
			return nil, invalid(sf+".matcher.exact", "must not be empty")
		}
		ids = append(ids, ex.Exact)
	}
	return ids, nil
}

// mtlsMarked reports an endpoint that takes mesh mTLS.
func mtlsMarked(m *envoypb.Metadata) bool {
	return m.GetFilterMetadata()[transportSocketMatchKey].GetFields()[tlsModeKey].GetStringValue() == tlsModeMTLS
}

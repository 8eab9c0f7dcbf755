package proxy

import (
	"crypto/tls"
	"net"
)

// connectionStater is what *tls.Conn offers; inbound mTLS hands the
// engines the *tls.Conn itself (never a wrapper that hides it), so the
// peer's identity is read from the handshake the listener verified.
type connectionStater interface {
	ConnectionState() tls.ConnectionState
}

// PeerID is the SPIFFE ID of the peer on an inbound connection: the URI
// SAN of the client certificate that the mTLS handshake verified, or ""
// when the connection is plaintext or the peer sent no certificate. The
// handshake's VerifyPeerCertificate has already checked the chain against
// the trust bundle and that the leaf holds exactly one spiffe:// URI.
func PeerID(c net.Conn) string {
	cs, ok := c.(connectionStater)
	if !ok {
		return ""
	}
	st := cs.ConnectionState()
	return PeerIDFromState(&st)
}

// PeerIDFromState is PeerID for a request that carries its connection's
// TLS state (HTTP/2's r.TLS).
func PeerIDFromState(st *tls.ConnectionState) string {
	if st == nil || !st.HandshakeComplete || len(st.PeerCertificates) == 0 {
		return ""
	}
	uris := st.PeerCertificates[0].URIs
	if len(uris) != 1 || uris[0].Scheme != "spiffe" {
		return ""
	}
	return uris[0].String()
}

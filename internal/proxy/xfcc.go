package proxy

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"net"
)

// xfccHeader is Envoy's X-Forwarded-Client-Cert: on an inbound mTLS
// connection the app reads there who called it. Only the receiving
// sidecar sets it, from the certificate its own handshake verified; every
// downstream's copy is dropped (identityHeader), trusted or not.
const xfccHeader = "X-Forwarded-Client-Cert"

// xfccValue is the header's value for a verified peer, in Envoy's format
// and field order: By (this sidecar's SPIFFE ID), Hash (SHA-256 of the
// peer's leaf DER, hex) and URI (the peer's SPIFFE ID). "" when the
// connection has no verified peer.
func xfccValue(st *tls.ConnectionState, by string) string {
	peer := PeerIDFromState(st)
	if peer == "" {
		return ""
	}
	sum := sha256.Sum256(st.PeerCertificates[0].Raw)
	v := ""
	if by != "" {
		v = "By=" + by + ";"
	}
	return v + "Hash=" + hex.EncodeToString(sum[:]) + ";URI=" + peer
}

// xfccFor is xfccValue for a connection: computed once per connection on
// HTTP/1, so requests pay for nothing but the write.
func xfccFor(c net.Conn, localID func() string) []byte {
	cs, ok := c.(connectionStater)
	if !ok {
		return nil
	}
	st := cs.ConnectionState()
	by := ""
	if localID != nil {
		by = localID()
	}
	if v := xfccValue(&st, by); v != "" {
		return []byte(v)
	}
	return nil
}

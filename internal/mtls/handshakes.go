package mtls

import "sync/atomic"

// Side is which end of a handshake this sidecar was.
type Side uint8

// The two sides.
const (
	Server Side = iota // an inbound connection
	Client             // a connection to a peer sidecar
)

func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// Result is how a handshake ended.
type Result uint8

// Handshake results.
const (
	OK      Result = iota // a full handshake, peer verified
	Resumed               // a resumed session, peer verified again
	Refused               // the peer's certificate was refused, or the handshake failed
)

var resultNames = [...]string{"ok", "resumed", "refused"}

func (r Result) String() string { return resultNames[r] }

// Handshakes counts TLS handshakes by side and result, so an operator can
// see that handshakes track connections rather than requests. The zero
// value is ready; a nil *Handshakes counts nothing.
type Handshakes struct{ n [2][3]atomic.Uint64 }

func (h *Handshakes) count(s Side, resumed bool, err error) {
	switch {
	case err != nil:
		h.Add(s, Refused)
	case resumed:
		h.Add(s, Resumed)
	default:
		h.Add(s, OK)
	}
}

// Add counts one handshake. Handshakes that fail before a certificate is
// checked (a peer that is not TLS, or sends none) are not counted here.
func (h *Handshakes) Add(s Side, r Result) {
	if h != nil {
		h.n[s][r].Add(1)
	}
}

// Get is the count of one side and result.
func (h *Handshakes) Get(s Side, r Result) uint64 {
	if h == nil {
		return 0
	}
	return h.n[s][r].Load()
}

package listener

import "net"

// Sniffed is what the first bytes of a byte stream say it speaks, for
// engines that must decide after the listener did (inside a CONNECT
// tunnel).
type Sniffed uint8

// What Classify can tell.
const (
	SniffMore  Sniffed = iota // undecided: read more bytes (up to SniffLen)
	SniffHTTP1                // an HTTP/1 request line, possibly after empty lines
	SniffHTTP2                // the HTTP/2 connection preface (or a broken one)
	SniffTLS                  // a TLS record
	SniffOther                // none of these
)

// SniffLen is how many bytes decide; bytes that fill it undecided are an
// HTTP/1 request line too long to tell apart, as the listener treats them.
const SniffLen = sniffLen

// Classify tells what b, the first bytes of a stream, speaks, with the
// listener's own rules.
func Classify(b []byte) Sniffed {
	switch classify(b) {
	case kindHTTP1:
		return SniffHTTP1
	case kindHTTP2, kindBadPreface:
		return SniffHTTP2
	case kindTLS:
		return SniffTLS
	case kindTCP:
		return SniffOther
	}
	return SniffMore
}

// Replay returns a conn that yields b before reading on from c.
func Replay(c net.Conn, b []byte) net.Conn { return &peekConn{Conn: c, buf: b} }

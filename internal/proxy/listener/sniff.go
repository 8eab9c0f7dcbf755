package listener

import (
	"bytes"
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/h1"
)

// kind is what a connection's first bytes say it speaks.
type kind uint8

const (
	kindUnknown    kind = iota // need more bytes
	kindHTTP1                  // an HTTP/1 request line, possibly after empty lines
	kindHTTP2                  // the HTTP/2 connection preface
	kindBadPreface             // the preface's start, then other bytes: an HTTP/2 connection error
	kindTLS                    // a TLS record
	kindTCP                    // none of the above
)

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// sniffLen bounds detection: the empty lines the HTTP/1 codec skips plus
// one more, then room for the HTTP/2 preface or a short request line. A
// longer request line fills it undecided, and goes to HTTP/1.
const sniffLen = 2*(h1.MaxLeadingEmptyLines+1) + 64

var methods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("PUT "), []byte("DELETE "), []byte("HEAD "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "),
}

// classify decides from the bytes seen so far; kindUnknown asks for more.
// Empty lines (CRLF or LF) before a request line are HTTP/1 (RFC 9112
// §2.2), exactly as the codec skips them, so a prefix never changes which
// parser sees a request.
func classify(b []byte) kind {
	rest, lines, complete := stripEmptyLines(b)
	switch {
	case !complete:
		return kindUnknown
	case lines > h1.MaxLeadingEmptyLines:
		return kindHTTP1 // the codec refuses it: one more than it skips
	case lines > 0:
		// The preface and a TLS record count only at the first byte.
		return classifyToken(rest)
	}
	if len(b) == 0 {
		return kindUnknown
	}
	if len(b) >= 3 && b[0] == 0x16 && b[1] == 0x03 && b[2] <= 0x04 {
		return kindTLS
	}
	if isPrefix(b, h2Preface) {
		if len(b) >= len(h2Preface) {
			return kindHTTP2
		}
		return kindUnknown
	}
	if isBadPreface(b) {
		return kindBadPreface
	}
	return classifyToken(b)
}

// isBadPreface: the start of the preface, then something else. No HTTP/1
// request starts so (its version must be HTTP/1.x), so this is a broken
// HTTP/2 client, whose answer is a connection error (RFC 9113 §3.4).
func isBadPreface(b []byte) bool {
	return len(b) >= len(h2PrefaceStart) && string(b[:len(h2PrefaceStart)]) == h2PrefaceStart
}

const h2PrefaceStart = "PRI * HTTP/2"

// classifyToken tells an HTTP/1 request line from other bytes: a token,
// one space, a target, one space, "HTTP/". Anything the codec could accept
// as a request line passes (any method, lowercase too, any target form),
// so on an auto port no HTTP/1 request reaches TCP; bytes that outrun the
// sniff buffer undecided are HTTP/1 as well (see sniff).
func classifyToken(b []byte) kind {
	for _, m := range methods {
		if len(b) >= len(m) && bytes.Equal(b[:len(m)], m) {
			return kindHTTP1
		}
	}
	i := 0
	for i < len(b) && isTokenChar(b[i]) {
		i++
	}
	switch {
	case i == len(b):
		return kindUnknown
	case i == 0 || b[i] != ' ':
		return kindTCP
	}
	i++
	start := i
	for i < len(b) && b[i] > ' ' && b[i] != 0x7f {
		i++
	}
	switch {
	case i == len(b):
		return kindUnknown
	case i == start || b[i] != ' ':
		return kindTCP
	}
	if isPrefix(b[i+1:], []byte("HTTP/")) {
		if len(b[i+1:]) >= len("HTTP/") {
			return kindHTTP1
		}
		return kindUnknown
	}
	return kindTCP
}

// isTokenChar is RFC 9110's tchar, as the codec reads a method.
func isTokenChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// stripEmptyLines drops leading CRLF or LF lines, counting at most one past
// the codec's cap. complete is false when b ends inside one (a lone CR).
func stripEmptyLines(b []byte) (rest []byte, lines int, complete bool) {
	for lines <= h1.MaxLeadingEmptyLines {
		switch {
		case len(b) > 0 && b[0] == '\n':
			b = b[1:]
		case len(b) > 1 && b[0] == '\r' && b[1] == '\n':
			b = b[2:]
		case len(b) == 1 && b[0] == '\r':
			return b, lines, false
		default:
			return b, lines, true
		}
		lines++
	}
	return b, lines, true
}

// isPrefix reports whether b and p agree on their common length.
func isPrefix(b, p []byte) bool {
	n := min(len(b), len(p))
	return bytes.Equal(b[:n], p[:n])
}

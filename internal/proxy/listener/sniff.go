package listener

import (
	"bytes"

	"github.com/weft-mesh/weft/internal/proxy/h1"
)

// kind is what a connection's first bytes say it speaks.
type kind uint8

const (
	kindUnknown    kind = iota // need more bytes
	kindHTTP1                  // an HTTP/1 request line, possibly after empty lines
	kindHTTP2                  // the HTTP/2 connection preface
	kindBadPreface             // "PRI" that is not the preface: an HTTP/2 connection error
	kindTLS                    // a TLS record
	kindTCP                    // none of the above
)

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// sniffLen is enough bytes to decide any case: the empty lines the HTTP/1
// codec skips plus one more, then the HTTP/2 preface or the longest token
// and a space.
const sniffLen = 2*(h1.MaxLeadingEmptyLines+1) + 24

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
	// RFC 9113 §3.4 reserves the PRI method for the preface: anything else
	// starting with it is a broken HTTP/2 client, not an HTTP/1 request.
	if len(b) >= 4 && string(b[:4]) == "PRI " {
		return kindBadPreface
	}
	return classifyToken(b)
}

// classifyToken tells an HTTP/1 request line from other bytes.
func classifyToken(b []byte) kind {
	if len(b) == 0 {
		return kindUnknown
	}
	undecided := false
	for _, m := range methods {
		if isPrefix(b, m) {
			if len(b) >= len(m) {
				return kindHTTP1
			}
			undecided = true
		}
	}
	if undecided {
		return kindUnknown
	}
	// Any other token followed by " /" or " *" is HTTP/1 too (WebDAV,
	// custom methods).
	for i, c := range b {
		if c == ' ' {
			if i == 0 {
				return kindTCP
			}
			if i+1 < len(b) {
				if b[i+1] == '/' || b[i+1] == '*' {
					return kindHTTP1
				}
				return kindTCP
			}
			return kindUnknown
		}
		if !(c >= 'A' && c <= 'Z' || c == '-' || c == '_') || i >= 20 {
			return kindTCP
		}
	}
	return kindUnknown
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

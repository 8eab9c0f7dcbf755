package listener

import "bytes"

// kind is what a connection's first bytes say it speaks.
type kind uint8

const (
	kindUnknown kind = iota // need more bytes
	kindHTTP1
	kindHTTP2
	kindTLS
	kindTCP
)

var h2Preface = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// sniffLen is enough bytes to decide any case: the HTTP/2 preface, or the
// longest method plus a space.
const sniffLen = 24

var methods = [][]byte{
	[]byte("GET "), []byte("POST "), []byte("PUT "), []byte("DELETE "), []byte("HEAD "),
	[]byte("OPTIONS "), []byte("PATCH "), []byte("CONNECT "), []byte("TRACE "),
}

// classify decides from the bytes seen so far; kindUnknown asks for more.
func classify(b []byte) kind {
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
	// Any other token followed by " /" is HTTP/1 too (WebDAV, custom methods).
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

// isPrefix reports whether b and p agree on their common length.
func isPrefix(b, p []byte) bool {
	n := min(len(b), len(p))
	return bytes.Equal(b[:n], p[:n])
}

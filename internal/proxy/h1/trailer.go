package h1

import "bufio"

// forbiddenTrailers are the fields RFC 9110 §6.5.1 keeps out of a trailer
// section: framing, routing, request modifiers, authentication, response
// control and content processing. A recipient that merges trailers into the
// headers (many do) would otherwise let a body's end rewrite how the message
// was framed, routed or authorised, after every check ran on the head.
var forbiddenTrailers = [...]string{
	"authorization", "cache-control", "connection", "content-encoding", "content-length",
	"content-range", "content-type", "cookie", "expect", "host", "http2-settings",
	"if-match", "if-modified-since", "if-none-match", "if-range", "if-unmodified-since",
	"keep-alive", "max-forwards", "pragma", "proxy-authenticate", "proxy-authorization",
	"proxy-connection", "range", "set-cookie", "te", "trailer", "transfer-encoding",
	"upgrade", "www-authenticate",
}

// ForbiddenTrailer reports whether a trailer field named name must not be
// relayed (RFC 9110 §6.5.1). Names compare case-insensitively.
func ForbiddenTrailer(name []byte) bool {
	for _, s := range forbiddenTrailers {
		if EqualFold(name, s) {
			return true
		}
	}
	return false
}

// MaxTrailers caps the fields of one trailer section; more is an error.
const MaxTrailers = 32

// writeTrailers writes the fields of a trailer block (its lines, up to and
// including the empty line) that are neither forbidden nor rejected by
// drop, then the empty line. Syntax, control bytes and the count cap are
// checked as for a head.
func writeTrailers(w *bufio.Writer, block []byte, drop func(name []byte) bool) error {
	var hs [MaxTrailers]Header
	fields, err := parseFields(block, hs[:0], len(hs))
	if err != nil {
		return ErrBadChunk
	}
	for _, f := range fields {
		if ForbiddenTrailer(f.Name) || drop != nil && drop(f.Name) {
			continue
		}
		w.Write(f.Name)
		w.WriteString(": ")
		w.Write(f.Value)
		w.WriteString("\r\n")
	}
	_, err = w.WriteString("\r\n")
	return err
}

// Package tracing propagates trace context across a sidecar and records
// the spans of each hop: W3C Trace Context (traceparent, with tracestate
// forwarded untouched) and Zipkin's B3 (multi-header and single), read
// without allocating. Spans go to a Sink (the OTLP exporter in the
// sidecar); this package imports no protobuf, so the proxy can use it.
package tracing

import "slices"

// TraceID and SpanID are the W3C identifiers; all-zero is invalid.
type (
	TraceID [16]byte
	SpanID  [8]byte
)

// IsZero reports an unset (invalid) id.
func (t TraceID) IsZero() bool { return t == TraceID{} }

// IsZero reports an unset (invalid) id.
func (s SpanID) IsZero() bool { return s == SpanID{} }

// Context is the trace context a request arrived with: the trace, the
// caller's span (this hop's parent) and the caller's sampling decision.
type Context struct {
	Trace   TraceID
	Span    SpanID
	Sampled bool
	// Valid is false when the request carried no usable context.
	Valid bool
}

// ParseTraceparent reads a W3C traceparent value
// ("00-<32 hex trace>-<16 hex span>-<2 hex flags>"). Versions above 00 are
// read as 00 if their first four fields have 00's shape, as the
// specification requires; version ff, all-zero ids and uppercase hex are
// invalid.
func ParseTraceparent(v []byte) (Context, bool) {
	var c Context
	if len(v) < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return c, false
	}
	ver, ok := hexByte(v[0], v[1])
	if !ok || ver == 0xff || ver == 0 && len(v) != 55 || ver > 0 && len(v) > 55 && v[55] != '-' {
		return c, false
	}
	if !decodeHex(c.Trace[:], v[3:35]) || !decodeHex(c.Span[:], v[36:52]) {
		return c, false
	}
	flags, ok := hexByte(v[53], v[54])
	if !ok || c.Trace.IsZero() || c.Span.IsZero() {
		return Context{}, false
	}
	c.Sampled, c.Valid = flags&1 == 1, true
	return c, true
}

// ParseB3Single reads a b3 header: "TRACE-SPAN[-SAMPLED[-PARENT]]" or a
// bare sampling decision ("0", "1", "d"), which carries no ids and so is
// not a usable context. A 64-bit trace id is left-padded with zeros.
func ParseB3Single(v []byte) (Context, bool) {
	var c Context
	i := indexByte(v, '-')
	if i < 0 {
		return c, false
	}
	if !parseB3Trace(&c.Trace, v[:i]) {
		return c, false
	}
	rest := v[i+1:]
	j := indexByte(rest, '-')
	span := rest
	if j >= 0 {
		span = rest[:j]
	}
	if len(span) != 16 || !decodeHex(c.Span[:], span) || c.Span.IsZero() {
		return Context{}, false
	}
	c.Sampled = true // B3: absent decision means "decide yourself"; we keep the trace
	if j >= 0 {
		s := rest[j+1:]
		if k := indexByte(s, '-'); k >= 0 {
			s = s[:k]
		}
		switch string(s) {
		case "0":
			c.Sampled = false
		case "1", "d":
		default:
			return Context{}, false
		}
	}
	c.Valid = true
	return c, true
}

// ParseB3Multi reads X-B3-TraceId, X-B3-SpanId and X-B3-Sampled (or
// X-B3-Flags: 1, debug). A missing sampled header means sampled.
func ParseB3Multi(trace, span, sampled, flags []byte) (Context, bool) {
	var c Context
	if !parseB3Trace(&c.Trace, trace) || len(span) != 16 || !decodeHex(c.Span[:], span) || c.Span.IsZero() {
		return Context{}, false
	}
	c.Sampled = true
	switch {
	case string(flags) == "1":
	case sampled == nil:
	case string(sampled) == "1" || string(sampled) == "true":
	case string(sampled) == "0" || string(sampled) == "false":
		c.Sampled = false
	default:
		return Context{}, false
	}
	c.Valid = true
	return c, true
}

func parseB3Trace(t *TraceID, v []byte) bool {
	switch len(v) {
	case 32:
		if !decodeHex(t[:], v) {
			return false
		}
	case 16:
		*t = TraceID{}
		if !decodeHex(t[8:], v) {
			return false
		}
	default:
		return false
	}
	return !t.IsZero()
}

// AppendTraceparent appends a version-00 traceparent value.
func AppendTraceparent(dst []byte, t TraceID, s SpanID, sampled bool) []byte {
	// Formatted in a fixed array and appended once: this runs on every
	// traced request, and per-byte appends cost several times more.
	var b [traceparentLen]byte
	b[0], b[1], b[2] = '0', '0', '-'
	hexInto(b[3:35], t[:])
	b[35] = '-'
	hexInto(b[36:52], s[:])
	b[52], b[53], b[54] = '-', '0', '0'
	if sampled {
		b[54] = '1'
	}
	return append(dst, b[:]...)
}

// traceparentLen is a version-00 traceparent's length.
const traceparentLen = 2 + 1 + 32 + 1 + 16 + 1 + 2

// AppendHex appends b as lowercase hex.
func AppendHex(dst, b []byte) []byte { return appendHex(dst, b) }

func appendHex(dst, b []byte) []byte {
	n := len(dst)
	dst = slices.Grow(dst, 2*len(b))[:n+2*len(b)]
	hexInto(dst[n:], b)
	return dst
}

// hexInto writes src as lowercase hex into dst, which holds 2*len(src).
func hexInto(dst, src []byte) {
	dst = dst[:2*len(src)] // one bounds check for the loop
	for i, c := range src {
		p := &hexPairs[c]
		dst[2*i], dst[2*i+1] = p[0], p[1]
	}
}

// hexPairs holds each byte's two hex digits: one lookup per byte instead
// of two nibble lookups.
var hexPairs = func() (t [256][2]byte) {
	for i := range t {
		t[i] = [2]byte{hexDigits[i>>4], hexDigits[i&15]}
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// decodeHex decodes lowercase hex of exactly 2*len(dst) digits.
func decodeHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for i := range dst {
		b, ok := hexByte(src[2*i], src[2*i+1])
		if !ok {
			return false
		}
		dst[i] = b
	}
	return true
}

func hexByte(hi, lo byte) (byte, bool) {
	h, ok1 := nibble(hi)
	l, ok2 := nibble(lo)
	return h<<4 | l, ok1 && ok2
}

// nibble accepts lowercase only: W3C forbids uppercase in traceparent,
// and B3 ids are lowercase hex too.
func nibble(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

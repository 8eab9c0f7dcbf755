package lean

import (
	"strings"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
)

// Wire types, shortened for the decoders' switch statements.
const (
	varintT = protowire.VarintType
	bytesT  = protowire.BytesType
)

// field is one field as read off the wire: u holds a varint or fixed
// value, b a length-delimited payload (aliasing the input, never copied).
type field struct {
	num protowire.Number
	typ protowire.Type
	u   uint64
	b   []byte
}

// is reports whether f is field num with wire type typ. A known field with
// another wire type is an unknown field to protobuf's own decoder, which
// skips it; the decoders skip it the same way by matching on both.
func (f field) is(num protowire.Number, typ protowire.Type) bool {
	return f.num == num && f.typ == typ
}

// walk calls fn for each field of msg in wire order, after checking that
// the field is well formed. Groups are checked and skipped: no field Weft
// reads is a group, so they are always unknown.
func walk(msg []byte, fn func(f field) error) error {
	for len(msg) > 0 {
		num, typ, n := protowire.ConsumeTag(msg)
		if n < 0 || num > protowire.MaxValidNumber {
			return ErrMalformed
		}
		msg = msg[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.u, n = protowire.ConsumeVarint(msg)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(msg)
			f.u = uint64(v)
		case protowire.Fixed64Type:
			f.u, n = protowire.ConsumeFixed64(msg)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(msg)
		case protowire.StartGroupType:
			n = protowire.ConsumeFieldValue(num, typ, msg)
		default: // an end-group with no start, or a reserved wire type
			return ErrMalformed
		}
		if n < 0 {
			return ErrMalformed
		}
		msg = msg[n:]
		if typ == protowire.StartGroupType {
			continue
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return nil
}

// str reads a string field. Proto3 strings must be UTF-8; protobuf's
// decoder rejects the whole message otherwise, so the decoders do too.
func str(f field, name string, limit int) (string, error) {
	if !utf8.Valid(f.b) {
		return "", invalid(name, "string is not valid UTF-8")
	}
	if len(f.b) > limit {
		return "", overLimit(name+" length", limit)
	}
	return string(f.b), nil
}

// checkUTF8 validates a string field the decoders do not keep.
func checkUTF8(f field, name string) error {
	if !utf8.Valid(f.b) {
		return invalid(name, "string is not valid UTF-8")
	}
	return nil
}

// headerSafe is Envoy's HTTP_HEADER_NAME/VALUE rule in its lax form: no
// NUL, CR or LF.
func headerSafe(s string) bool { return !strings.ContainsAny(s, "\x00\r\n") }

// nonEmpty is PGV's min_len: 1 on a string (runes, but any non-empty
// valid UTF-8 string has at least one).
func nonEmpty(s string) bool { return s != "" }

// u32 is a google.protobuf.UInt32Value; set records presence.
type u32 struct {
	set bool
	v   uint32
}

// merge decodes b into w. A message field repeated on the wire is merged
// by protobuf, so every decoder of a message decodes into existing state.
func (w *u32) merge(b []byte) error {
	w.set = true
	return walk(b, func(f field) error {
		if f.is(1, varintT) {
			w.v = uint32(f.u)
		}
		return nil
	})
}

// anyMsg is a google.protobuf.Any.
type anyMsg struct {
	typeURL string
	value   []byte
}

func (a *anyMsg) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			a.typeURL, err = str(f, "type_url", maxName)
		case f.is(2, bytesT):
			a.value = f.b
		}
		return err
	})
}

// is reports whether a holds message fullName, by the rule anypb uses: the
// URL is the name or ends in "/" and the name.
func (a *anyMsg) is(fullName string) bool {
	u := a.typeURL
	return u == fullName || strings.HasSuffix(u, "/"+fullName)
}

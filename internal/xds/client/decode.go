package client

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// unmarshalOpts decode xDS bytes into envoypb's types. Fields Weft does not
// declare are dropped rather than kept as unknown bytes: nothing re-sends
// them, so keeping them would only hold memory.
var unmarshalOpts = proto.UnmarshalOptions{DiscardUnknown: true}

// unmarshal decodes b into m; any failure wraps ErrMalformed (protobuf
// itself checks the wire format and that strings are UTF-8).
func unmarshal(b []byte, m proto.Message) error {
	if err := unmarshalOpts.Unmarshal(b, m); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return nil
}

// capped checks a string the decoders keep against its cap.
func capped(name, s string, limit int) error {
	if len(s) > limit {
		return overLimit(name+" length", limit)
	}
	return nil
}

// headerSafe is Envoy's HTTP_HEADER_NAME/VALUE rule in its lax form: no
// NUL, CR or LF.
func headerSafe(s string) bool { return !strings.ContainsAny(s, "\x00\r\n") }

// nonEmpty is PGV's min_len: 1 on a string (runes, but any non-empty
// valid UTF-8 string has at least one).
func nonEmpty(s string) bool { return s != "" }

// anyIs reports whether a holds message fullName, by the rule anypb uses:
// the URL is the name or ends in "/" and the name. The names are Envoy's;
// the bytes then decode into envoypb's type of the same fields.
func anyIs(a *anypb.Any, fullName string) bool {
	u := a.GetTypeUrl()
	return u == fullName || strings.HasSuffix(u, "/"+fullName)
}

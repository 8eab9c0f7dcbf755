package route

import (
	"fmt"
	"strings"
)

// Caps on a header modifier, Gateway API's: 16 entries in each list.
const (
	MaxHeaderMods     = 16
	MaxHeaderNameLen  = 256
	MaxHeaderValueLen = 4096
)

// HeaderMods edits a message's headers, with Gateway API's semantics:
// Remove deletes every value of a header, Set replaces them with one,
// Add appends one. Names are case-insensitive.
type HeaderMods struct {
	// Set gives each named header exactly this value.
	Set []HeaderValue
	// Add appends a value, keeping the message's own.
	Add []HeaderValue
	// Remove names the headers deleted.
	Remove []string

	drop []string // lowercase names of Remove and Set, set by Compile
}

// HeaderValue is one header name and value.
type HeaderValue struct {
	Name, Value string
}

// Drops reports whether a message's header named n is left out: it is
// removed or replaced by Set. It allocates nothing.
func (m *HeaderMods) Drops(n []byte) bool {
	for _, d := range m.drop {
		if len(d) == len(n) && equalFoldLower(n, d) {
			return true
		}
	}
	return false
}

// Sets reports whether Set names the header lower (given in lower case).
func (m *HeaderMods) Sets(lower string) bool {
	for _, h := range m.Set {
		if strings.EqualFold(h.Name, lower) {
			return true
		}
	}
	return false
}

func equalFoldLower(b []byte, lower string) bool {
	for i := range b {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// compileMods checks a modifier and returns a copy holding the lowercase
// names the hot path compares against (a copy: the config may be
// compiled again, concurrently).
func compileMods(in *HeaderMods, p string, fail func(path, format string, args ...any)) *HeaderMods {
	if in == nil {
		return nil
	}
	m := &HeaderMods{Set: in.Set, Add: in.Add, Remove: in.Remove}
	if len(m.Set) > MaxHeaderMods || len(m.Add) > MaxHeaderMods || len(m.Remove) > MaxHeaderMods {
		fail(p, "at most %d headers in each of set, add and remove", MaxHeaderMods)
	}
	for i, h := range m.Set {
		if err := CheckHeader(h.Name, h.Value); err != nil {
			fail(fmt.Sprintf("%s.set[%d]", p, i), "%v", err)
		}
		m.drop = append(m.drop, strings.ToLower(h.Name))
	}
	for i, h := range m.Add {
		if err := CheckHeader(h.Name, h.Value); err != nil {
			fail(fmt.Sprintf("%s.add[%d]", p, i), "%v", err)
		}
	}
	for i, n := range m.Remove {
		if err := CheckHeader(n, ""); err != nil {
			fail(fmt.Sprintf("%s.remove[%d]", p, i), "%v", err)
		}
		m.drop = append(m.drop, strings.ToLower(n))
	}
	return m
}

// CheckHeader says why a header may not be set, added or removed by a
// route, or nil: names are RFC 9110 tokens (so no pseudo-headers), values
// carry no CR, LF or NUL (no header injection, RELIABILITY row 10), and
// framing, connection-scoped and mesh-internal headers belong to the
// proxy.
func CheckHeader(name, value string) error {
	if name == "" {
		return fmt.Errorf("header name is empty")
	}
	if len(name) > MaxHeaderNameLen {
		return fmt.Errorf("header name longer than %d bytes", MaxHeaderNameLen)
	}
	for i := 0; i < len(name); i++ {
		if !tokenChar(name[i]) {
			return fmt.Errorf("header name %q is not an RFC 9110 token", name)
		}
	}
	l := strings.ToLower(name)
	switch l {
	case "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "transfer-encoding",
		"http2-settings", "proxy-authenticate", "proxy-authorization", "host", "content-length", "x-mesh-identity":
		return fmt.Errorf("header %q is set by the proxy", name)
	}
	if strings.HasPrefix(l, "x-weft-") {
		return fmt.Errorf("header %q is internal to the mesh", name)
	}
	if len(value) > MaxHeaderValueLen {
		return fmt.Errorf("header %q: value longer than %d bytes", name, MaxHeaderValueLen)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("header %q: value contains CR, LF or NUL", name)
	}
	return nil
}

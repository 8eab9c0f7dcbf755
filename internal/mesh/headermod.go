package mesh

import "strings"

// HeaderModifier is Gateway API's HTTPHeaderFilter: set replaces a
// header's values (adding it when absent), add appends a value, remove
// deletes every value. Names are case-insensitive and each may appear once
// across the lists. Remove is applied first, then set, then add.
type HeaderModifier struct {
	// Set gives headers their one value, replacing any the message had.
	// At most 16.
	Set []HTTPHeader `json:"set,omitempty"`
	// Add appends a value to headers, keeping those the message had.
	// At most 16.
	Add []HTTPHeader `json:"add,omitempty"`
	// Remove names headers deleted from the message. At most 16.
	Remove []string `json:"remove,omitempty"`
}

// HTTPHeader is a header name and value for a HeaderModifier.
type HTTPHeader struct {
	// Name is the header's name, an RFC 9110 token of at most 256
	// characters. Required.
	Name string `json:"name"`
	// Value is the header's value, at most 4096 characters, without CR,
	// LF or NUL. Required (may be empty).
	Value string `json:"value"`
}

// Gateway API's limits for a header filter.
const (
	maxHeaderMods       = 16
	maxHeaderNameLen    = 256
	maxHeaderValueLen   = 4096
	headerModifierWords = "set, add or remove"
)

func validateHeaderModifier(v *errs, path string, m *HeaderModifier) {
	if m == nil || len(m.Set)+len(m.Add)+len(m.Remove) == 0 {
		v.add(path, "a header modifier needs %s", headerModifierWords)
		return
	}
	seen := map[string]string{}
	name := func(p, n string) {
		if why := headerNameProblem(n); why != "" {
			v.add(p, "%s", why)
			return
		}
		k := strings.ToLower(n)
		if prev, ok := seen[k]; ok {
			v.add(p, "header %q already named at %s (names are case-insensitive)", n, prev)
			return
		}
		seen[k] = p
	}
	for _, list := range []struct {
		key string
		hs  []HTTPHeader
	}{{"set", m.Set}, {"add", m.Add}} {
		if len(list.hs) > maxHeaderMods {
			v.add(path+"."+list.key, "at most %d headers; got %d", maxHeaderMods, len(list.hs))
		}
		for i, h := range list.hs {
			hp := field(path+"."+list.key, i)
			name(hp+".name", h.Name)
			if why := headerValueProblem(h.Value); why != "" {
				v.add(hp+".value", "%s", why)
			}
		}
	}
	if len(m.Remove) > maxHeaderMods {
		v.add(path+".remove", "at most %d headers; got %d", maxHeaderMods, len(m.Remove))
	}
	for i, n := range m.Remove {
		name(field(path+".remove", i), n)
	}
}

// headerNameProblem says why a header may not be modified, or "" when it
// may: framing, connection-scoped and mesh-internal headers belong to the
// proxy (RELIABILITY row 10 and 11).
func headerNameProblem(n string) string {
	if n == "" {
		return "is required"
	}
	if len(n) > maxHeaderNameLen {
		return "longer than 256 characters"
	}
	for i := 0; i < len(n); i++ {
		if !tokenChar(n[i]) {
			return "is not a valid header name (RFC 9110 token characters only)"
		}
	}
	l := strings.ToLower(n)
	switch l {
	case "connection", "keep-alive", "te", "trailer", "upgrade", "proxy-connection", "transfer-encoding",
		"http2-settings", "proxy-authenticate", "proxy-authorization", "host", "content-length", "x-mesh-identity":
		return "header " + n + " is set by the proxy and may not be modified"
	}
	if strings.HasPrefix(l, "x-weft-") {
		return "x-weft-* headers are internal to the mesh and may not be modified"
	}
	return ""
}

func headerValueProblem(s string) string {
	if len(s) > maxHeaderValueLen {
		return "longer than 4096 characters"
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "must not contain CR, LF or NUL"
	}
	return ""
}

func tokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

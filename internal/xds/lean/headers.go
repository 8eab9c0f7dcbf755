package lean

import (
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// HeaderMatcher header_match_specifier members that carry a string.
const (
	headerExact    = 4
	headerPrefix   = 9
	headerSuffix   = 10
	headerContains = 12
	headerRegex    = 11
	headerString   = 13
)

// headerMsg is a route.v3.HeaderMatcher: name 1, the oneof above (plus
// range_match 6 and present_match 7), invert_match 8,
// treat_missing_header_as_empty 14.
type headerMsg struct {
	name         string
	kind         int
	value        string
	regex        regexMatcher
	sm           stringMatcher
	invert       bool
	treatMissing bool
}

func (h *headerMsg) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			h.name, err = str(f, "name", maxName)
		case f.typ == bytesT && (f.num == headerExact || f.num == headerPrefix || f.num == headerSuffix || f.num == headerContains):
			h.kind = int(f.num)
			h.value, err = str(f, "match", maxValue)
		case f.is(headerRegex, bytesT):
			if h.kind != headerRegex {
				h.regex = regexMatcher{}
			}
			h.kind = headerRegex
			err = h.regex.merge(f.b)
		case f.is(headerString, bytesT):
			if h.kind != headerString {
				h.sm = stringMatcher{}
			}
			h.kind = headerString
			err = h.sm.merge(f.b)
		case f.is(6, bytesT), f.is(7, varintT): // range_match, present_match
			h.kind = int(f.num)
		case f.is(8, varintT):
			h.invert = f.u != 0
		case f.is(14, varintT):
			h.treatMissing = f.u != 0
		}
		return err
	})
}

// toProxy checks Envoy's rules, then adds the matcher to out. Only
// string_match is mapped (client.ToProxy's rule); :method becomes the
// route's method and must be an exact, non-inverted match, since the proxy
// compares methods by equality only.
func (h *headerMsg) toProxy(out *route.Match) error {
	if !nonEmpty(h.name) || !headerSafe(h.name) {
		return invalid("name", "%q must be non-empty without NUL, CR or LF", h.name)
	}
	switch h.kind {
	case headerPrefix, headerSuffix, headerContains:
		if !nonEmpty(h.value) {
			return invalid(h.name, "prefix, suffix and contains must not be empty")
		}
	case headerRegex:
		if err := h.regex.check(h.name + ".safe_regex_match"); err != nil {
			return err
		}
	}
	if h.kind != headerString {
		return unsupported(h.name, "only string_match is supported")
	}
	kind, val, err := h.sm.toProxy(h.name + ".string_match")
	if err != nil {
		return err
	}
	if h.treatMissing {
		return unsupported(h.name+".treat_missing_header_as_empty", "treating a missing header as empty")
	}
	if h.name == ":method" {
		if kind != route.MatchExact || h.invert {
			return unsupported(h.name, "only an exact, non-inverted method match")
		}
		out.Method = val
		return nil
	}
	out.Headers = append(out.Headers, route.HeaderMatch{Name: strings.ToLower(h.name), Kind: kind, Value: val, Invert: h.invert})
	return nil
}

// queryMsg is a route.v3.QueryParameterMatcher: name 1, and the oneof
// string_match 5 or present_match 6.
type queryMsg struct {
	name string
	kind int // string_match 5, present_match 6
	sm   stringMatcher
}

func (q *queryMsg) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			q.name, err = str(f, "name", maxName)
		case f.is(5, bytesT):
			if q.kind != 5 {
				q.sm = stringMatcher{}
			}
			q.kind = 5
			err = q.sm.merge(f.b)
		case f.is(6, varintT):
			q.kind = 6
		}
		return err
	})
}

// toProxy maps a string_match. client.ToProxy reads present_match, or no
// matcher at all, as an exact match on "", which is not what either means;
// Weft refuses them.
func (q *queryMsg) toProxy() (route.QueryMatch, error) {
	if !nonEmpty(q.name) {
		return route.QueryMatch{}, invalid("name", "must not be empty")
	}
	if q.kind != 5 {
		return route.QueryMatch{}, unsupported(q.name, "only string_match is supported")
	}
	kind, val, err := q.sm.toProxy(q.name + ".string_match")
	if err != nil {
		return route.QueryMatch{}, err
	}
	return route.QueryMatch{Name: q.name, Kind: kind, Value: val}, nil
}

package client

import (
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// headerToProxy checks Envoy's rules on a HeaderMatcher, then adds it to
// out. Only string_match is mapped (xdstest.ToProxy's rule); :method
// becomes the route's method and must be an exact, non-inverted match,
// since the proxy compares methods by equality only.
func headerToProxy(h *envoypb.HeaderMatcher, out *route.Match) error {
	name := h.GetName()
	if err := capped("name", name, maxName); err != nil {
		return err
	}
	if !nonEmpty(name) || !headerSafe(name) {
		return invalid("name", "%q must be non-empty without NUL, CR or LF", name)
	}
	var sm *envoypb.StringMatcher
	switch p := h.GetHeaderMatchSpecifier().(type) {
	case *envoypb.HeaderMatcher_PrefixMatch:
		if !nonEmpty(p.PrefixMatch) {
			return invalid(name, "prefix, suffix and contains must not be empty")
		}
	case *envoypb.HeaderMatcher_SuffixMatch:
		if !nonEmpty(p.SuffixMatch) {
			return invalid(name, "prefix, suffix and contains must not be empty")
		}
	case *envoypb.HeaderMatcher_ContainsMatch:
		if !nonEmpty(p.ContainsMatch) {
			return invalid(name, "prefix, suffix and contains must not be empty")
		}
	case *envoypb.HeaderMatcher_SafeRegexMatch:
		if err := checkRegex(p.SafeRegexMatch, name+".safe_regex_match"); err != nil {
			return err
		}
	case *envoypb.HeaderMatcher_StringMatch:
		sm = p.StringMatch
	}
	if sm == nil {
		return unsupported(name, "only string_match is supported")
	}
	kind, val, err := stringMatchToProxy(sm, name+".string_match")
	if err != nil {
		return err
	}
	if h.GetTreatMissingHeaderAsEmpty() {
		return unsupported(name+".treat_missing_header_as_empty", "treating a missing header as empty")
	}
	if name == ":method" {
		if kind != route.MatchExact || h.GetInvertMatch() {
			return unsupported(name, "only an exact, non-inverted method match")
		}
		out.Method = val
		return nil
	}
	out.Headers = append(out.Headers, route.HeaderMatch{Name: strings.ToLower(name), Kind: kind, Value: val, Invert: h.GetInvertMatch()})
	return nil
}

// queryToProxy maps a QueryParameterMatcher's string_match.
// xdstest.ToProxy reads present_match, or no matcher at all, as an exact
// match on "", which is not what either means; Weft refuses them.
func queryToProxy(q *envoypb.QueryParameterMatcher) (route.QueryMatch, error) {
	name := q.GetName()
	if err := capped("name", name, maxName); err != nil {
		return route.QueryMatch{}, err
	}
	if !nonEmpty(name) {
		return route.QueryMatch{}, invalid("name", "must not be empty")
	}
	sm := q.GetStringMatch()
	if sm == nil {
		return route.QueryMatch{}, unsupported(name, "only string_match is supported")
	}
	kind, val, err := stringMatchToProxy(sm, name+".string_match")
	if err != nil {
		return route.QueryMatch{}, err
	}
	return route.QueryMatch{Name: name, Kind: kind, Value: val}, nil
}

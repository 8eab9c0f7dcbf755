package lean

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// RouteMatch path_specifier members.
const (
	pathPrefix          = 1
	pathExact           = 2
	pathRegex           = 10
	pathConnect         = 12
	pathSeparatedPrefix = 14
	pathMatchPolicy     = 15
)

// restrictingMatchers are RouteMatch fields that narrow what a route
// matches (grpc 8, runtime_fraction 9, tls_context 11, dynamic_metadata 13,
// filter_state 16, cookies 17). client.ToProxy ignores them, which would
// widen the route to requests it must not take; Weft refuses them.
var restrictingMatchers = map[int]string{8: "grpc", 9: "runtime_fraction", 11: "tls_context", 13: "dynamic_metadata", 16: "filter_state", 17: "cookies"}

// matchMsg is a route.v3.RouteMatch: the path_specifier oneof above,
// case_sensitive 4 (a BoolValue), headers 6, query_parameters 7.
type matchMsg struct {
	pathKind      int
	path          string
	regex         regexMatcher
	headers       []headerMsg
	query         []queryMsg
	caseSensitive struct{ set, v bool }
	restricted    int // the first restricting field sent
}

func (m *matchMsg) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.typ == bytesT && (f.num == pathPrefix || f.num == pathExact || f.num == pathSeparatedPrefix):
			m.pathKind = int(f.num)
			m.path, err = str(f, "path", maxValue)
		case f.is(pathRegex, bytesT):
			if m.pathKind != pathRegex {
				m.regex = regexMatcher{}
			}
			m.pathKind = pathRegex
			err = m.regex.merge(f.b)
		case f.is(pathConnect, bytesT), f.is(pathMatchPolicy, bytesT):
			m.pathKind = int(f.num)
		case f.is(4, bytesT):
			m.caseSensitive.set = true
			err = walk(f.b, func(f field) error {
				if f.is(1, varintT) {
					m.caseSensitive.v = f.u != 0
				}
				return nil
			})
		case f.is(6, bytesT):
			if len(m.headers) >= maxMatchers {
				return overLimit("headers", maxMatchers)
			}
			var h headerMsg
			err = h.merge(f.b)
			m.headers = append(m.headers, h)
		case f.is(7, bytesT):
			if len(m.query) >= maxMatchers {
				return overLimit("query_parameters", maxMatchers)
			}
			var q queryMsg
			err = q.merge(f.b)
			m.query = append(m.query, q)
		case f.typ == bytesT && restrictingMatchers[int(f.num)] != "":
			if m.restricted == 0 {
				m.restricted = int(f.num)
			}
		}
		return err
	})
}

// toProxy checks Envoy's rules on the match, then maps it as client.ToProxy
// does (headers lowercased, :method read as the method).
func (m *matchMsg) toProxy(out *route.Match) error {
	switch m.pathKind {
	case 0:
		return invalid("path_specifier", "one of prefix, path, safe_regex, path_separated_prefix is required")
	case pathPrefix:
		out.Path = route.PathMatch{Kind: route.PathPrefix, Value: m.path}
		if m.path != "/" && !strings.HasSuffix(m.path, "/") {
			return unsupported("prefix", "prefix %q is not segment-aware; use path_separated_prefix", m.path)
		}
	case pathSeparatedPrefix:
		// Envoy's pattern ^[^?#]+[^?#/]$: two runes or more, no query or
		// fragment, no trailing slash.
		if utf8.RuneCountInString(m.path) < 2 || strings.ContainsAny(m.path, "?#") || strings.HasSuffix(m.path, "/") {
			return invalid("path_separated_prefix", "%q must not be empty, end in / or hold ? or #", m.path)
		}
		out.Path = route.PathMatch{Kind: route.PathPrefix, Value: m.path}
	case pathExact:
		out.Path = route.PathMatch{Kind: route.PathExact, Value: m.path}
	case pathRegex:
		if err := m.regex.check("safe_regex"); err != nil {
			return err
		}
		out.Path = route.PathMatch{Kind: route.PathRegex, Value: m.regex.regex}
	default:
		return unsupported("path_specifier", "path match field %d", m.pathKind)
	}
	if m.caseSensitive.set && !m.caseSensitive.v {
		return unsupported("case_sensitive", "case-insensitive path matching")
	}
	if m.restricted != 0 {
		return unsupported(restrictingMatchers[m.restricted], "matching on it")
	}
	for i := range m.headers {
		if err := m.headers[i].toProxy(out); err != nil {
			return fmt.Errorf("headers[%d]: %w", i, err)
		}
	}
	for i := range m.query {
		q, err := m.query[i].toProxy()
		if err != nil {
			return fmt.Errorf("query_parameters[%d]: %w", i, err)
		}
		out.Query = append(out.Query, q)
	}
	return nil
}

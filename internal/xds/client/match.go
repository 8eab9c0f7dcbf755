package client

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// restricting names the first RouteMatch field that narrows what a route
// matches in a way the proxy cannot evaluate, or "". xdstest.ToProxy ignores
// them, which would widen the route to requests it must not take; Weft
// refuses them.
func restricting(m *envoypb.RouteMatch) string {
	switch {
	case m.GetGrpc() != nil:
		return "grpc"
	case m.GetRuntimeFraction() != nil:
		return "runtime_fraction"
	case m.GetTlsContext() != nil:
		return "tls_context"
	case len(m.GetDynamicMetadata()) > 0:
		return "dynamic_metadata"
	case len(m.GetFilterState()) > 0:
		return "filter_state"
	case len(m.GetCookies()) > 0:
		return "cookies"
	}
	return ""
}

// matchToProxy checks Envoy's rules on the match, then maps it as
// xdstest.ToProxy does (headers lowercased, :method read as the method).
func matchToProxy(m *envoypb.RouteMatch, out *route.Match) error {
	switch p := m.GetPathSpecifier().(type) {
	case nil:
		return invalid("path_specifier", "one of prefix, path, safe_regex, path_separated_prefix is required")
	case *envoypb.RouteMatch_Prefix:
		if err := capped("prefix", p.Prefix, maxValue); err != nil {
			return err
		}
		out.Path = route.PathMatch{Kind: route.PathPrefix, Value: p.Prefix}
		if p.Prefix != "/" && !strings.HasSuffix(p.Prefix, "/") {
			return unsupported("prefix", "prefix %q is not segment-aware; use path_separated_prefix", p.Prefix)
		}
	case *envoypb.RouteMatch_PathSeparatedPrefix:
		v := p.PathSeparatedPrefix
		if err := capped("path_separated_prefix", v, maxValue); err != nil {
			return err
		}
		// Envoy's pattern ^[^?#]+[^?#/]$: two runes or more, no query or
		// fragment, no trailing slash.
		if utf8.RuneCountInString(v) < 2 || strings.ContainsAny(v, "?#") || strings.HasSuffix(v, "/") {
			return invalid("path_separated_prefix", "%q must not be empty, end in / or hold ? or #", v)
		}
		out.Path = route.PathMatch{Kind: route.PathPrefix, Value: v}
	case *envoypb.RouteMatch_Path:
		if err := capped("path", p.Path, maxValue); err != nil {
			return err
		}
		out.Path = route.PathMatch{Kind: route.PathExact, Value: p.Path}
	case *envoypb.RouteMatch_SafeRegex:
		if err := checkRegex(p.SafeRegex, "safe_regex"); err != nil {
			return err
		}
		out.Path = route.PathMatch{Kind: route.PathRegex, Value: p.SafeRegex.GetRegex()}
	case *envoypb.RouteMatch_ConnectMatcher:
		return unsupported("connect_matcher", "CONNECT matching")
	default:
		return unsupported("path_match_policy", "path match extensions")
	}
	if cs := m.GetCaseSensitive(); cs != nil && !cs.GetValue() {
		return unsupported("case_sensitive", "case-insensitive path matching")
	}
	if f := restricting(m); f != "" {
		return unsupported(f, "matching on it")
	}
	if len(m.GetHeaders()) > maxMatchers {
		return overLimit("headers", maxMatchers)
	}
	if len(m.GetQueryParameters()) > maxMatchers {
		return overLimit("query_parameters", maxMatchers)
	}
	for i, h := range m.GetHeaders() {
		if err := headerToProxy(h, out); err != nil {
			return fmt.Errorf("headers[%d]: %w", i, err)
		}
	}
	for i, q := range m.GetQueryParameters() {
		qm, err := queryToProxy(q)
		if err != nil {
			return fmt.Errorf("query_parameters[%d]: %w", i, err)
		}
		out.Query = append(out.Query, qm)
	}
	return nil
}

package translate

import (
	"regexp"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/internal/mesh"
)

// ruleFilter returns the rule's filter of type typ, or nil.
func ruleFilter(rule *mesh.HTTPRouteRule, typ string) *mesh.HTTPFilter {
	for i := range rule.Filters {
		if rule.Filters[i].Type == typ {
			return &rule.Filters[i]
		}
	}
	return nil
}

// mirrorPolicies maps a RequestMirror filter onto the rule's
// RouteAction.request_mirror_policies; a share below 100 % becomes the
// policy's runtime_fraction (percent out of HUNDRED, a fraction in
// MILLION).
func mirrorPolicies(ns string, rule *mesh.HTTPRouteRule) []*routev3.RouteAction_RequestMirrorPolicy {
	f := ruleFilter(rule, mesh.FilterRequestMirror)
	if f == nil || f.RequestMirror == nil {
		return nil
	}
	m := f.RequestMirror
	p := &routev3.RouteAction_RequestMirrorPolicy{Cluster: ClusterName(ns, m.BackendRef.Name, m.BackendRef.Subset)}
	var fp *typev3.FractionalPercent
	switch {
	case m.Percent != nil && *m.Percent < 100:
		fp = &typev3.FractionalPercent{Numerator: uint32(*m.Percent), Denominator: typev3.FractionalPercent_HUNDRED}
	case m.Fraction != nil && m.Fraction.Denominator != nil && m.Fraction.Numerator < *m.Fraction.Denominator:
		n := uint64(m.Fraction.Numerator) * 1_000_000 / uint64(*m.Fraction.Denominator)
		fp = &typev3.FractionalPercent{Numerator: uint32(n), Denominator: typev3.FractionalPercent_MILLION}
	}
	if fp != nil {
		p.RuntimeFraction = &corev3.RuntimeFractionalPercent{DefaultValue: fp}
	}
	return []*routev3.RouteAction_RequestMirrorPolicy{p}
}

// setURLFilters applies a rule's URLRewrite or RequestRedirect to the
// route built for one of its matches: the path rewrite depends on the
// match, so a rewriting route gets its own copy of the rule's action.
func setURLFilters(r *routev3.Route, rule *mesh.HTTPRouteRule, m *mesh.HTTPRouteMatch) {
	if f := ruleFilter(rule, mesh.FilterRequestRedirect); f != nil && f.RequestRedirect != nil {
		r.Action = &routev3.Route_Redirect{Redirect: redirectAction(f.RequestRedirect, m)}
		return
	}
	f := ruleFilter(rule, mesh.FilterURLRewrite)
	if f == nil || f.URLRewrite == nil {
		return
	}
	a := proto.Clone(r.GetRoute()).(*routev3.RouteAction)
	if h := f.URLRewrite.Hostname; h != "" {
		a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: h}
	}
	if p := f.URLRewrite.Path; p != nil {
		switch p.Type {
		case mesh.FullPathHTTPPathModifier:
			a.RegexRewrite = &matcherv3.RegexMatchAndSubstitute{
				Pattern: &matcherv3.RegexMatcher{Regex: `^/.*$`}, Substitution: *p.ReplaceFullPath}
		case mesh.PrefixMatchHTTPPathModifier:
			a.PrefixRewrite, a.RegexRewrite = prefixRewrite(m.Path.Value, *p.ReplacePrefixMatch)
		}
	}
	r.Action = &routev3.Route_Route{Route: a}
}

// prefixRewrite expresses Gateway API's ReplacePrefixMatch of the
// matched prefix by repl: the remainder after the prefix (empty or
// starting with /) is appended to repl without its trailing slash, and
// an empty result is /. A plain prefix_rewrite does this when the match
// has no trailing slash and the replacement is not /; the other cases
// take a regex, as Envoy Gateway does, so no double slash appears.
func prefixRewrite(match, repl string) (string, *matcherv3.RegexMatchAndSubstitute) {
	mt, rt := strings.TrimSuffix(match, "/"), strings.TrimSuffix(repl, "/")
	if mt == match && mt != "" && rt != "" {
		return rt, nil
	}
	if rt == "" {
		return "", &matcherv3.RegexMatchAndSubstitute{
			Pattern: &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(mt) + "/*"}, Substitution: "/"}
	}
	return "", &matcherv3.RegexMatchAndSubstitute{
		Pattern: &matcherv3.RegexMatcher{Regex: "^" + regexp.QuoteMeta(mt)}, Substitution: rt}
}

var redirectCodes = map[int32]routev3.RedirectAction_RedirectResponseCode{
	301: routev3.RedirectAction_MOVED_PERMANENTLY,
	302: routev3.RedirectAction_FOUND,
	303: routev3.RedirectAction_SEE_OTHER,
	307: routev3.RedirectAction_TEMPORARY_REDIRECT,
	308: routev3.RedirectAction_PERMANENT_REDIRECT,
}

// redirectAction maps a RequestRedirect. Envoy's default code is 301 and
// Gateway API's 302, so the code is always written.
func redirectAction(rd *mesh.RequestRedirect, m *mesh.HTTPRouteMatch) *routev3.RedirectAction {
	a := &routev3.RedirectAction{ResponseCode: routev3.RedirectAction_FOUND}
	if rd.StatusCode != nil {
		a.ResponseCode = redirectCodes[*rd.StatusCode]
	}
	if rd.Scheme != nil {
		a.SchemeRewriteSpecifier = &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: *rd.Scheme}
	}
	if rd.Hostname != nil {
		a.HostRedirect = *rd.Hostname
	}
	if rd.Port != nil {
		a.PortRedirect = uint32(*rd.Port)
	}
	if p := rd.Path; p != nil {
		switch p.Type {
		case mesh.FullPathHTTPPathModifier:
			a.PathRewriteSpecifier = &routev3.RedirectAction_PathRedirect{PathRedirect: *p.ReplaceFullPath}
		case mesh.PrefixMatchHTTPPathModifier:
			pre, re := prefixRewrite(m.Path.Value, *p.ReplacePrefixMatch)
			if re != nil {
				a.PathRewriteSpecifier = &routev3.RedirectAction_RegexRewrite{RegexRewrite: re}
			} else {
				a.PathRewriteSpecifier = &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: pre}
			}
		}
	}
	return a
}

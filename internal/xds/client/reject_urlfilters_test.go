package client

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestURLFiltersDecode(t *testing.T) {
	runDecodeCases(t, urlFilterCases(), func(b []byte) (any, error) { _, rc, err := decodeRoutes(b); return rc, err },
		func(b []byte) (any, error) { _, rc, err := realRoutes(b); return rc, err })
}

func urlFilterCases() []decodeCase {
	type rT = routev3.Route
	base := func(mut func(r *rT)) proto.Message {
		r := &routev3.Route{Name: "r",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/foo"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a.default"}}}}
		mut(r)
		vh := &routev3.VirtualHost{Name: "a", Domains: []string{"a"}, Routes: []*routev3.Route{r}}
		return &routev3.RouteConfiguration{Name: outboundRoute, VirtualHosts: []*routev3.VirtualHost{vh}}
	}
	act := func(f func(a *routev3.RouteAction)) func(*rT) { return func(r *rT) { f(r.GetRoute()) } }
	redirect := func(rd *routev3.RedirectAction) func(*rT) {
		return func(r *rT) { r.Action = &routev3.Route_Redirect{Redirect: rd} }
	}
	re := func(p, s string) *matcherv3.RegexMatchAndSubstitute {
		return &matcherv3.RegexMatchAndSubstitute{Pattern: &matcherv3.RegexMatcher{Regex: p}, Substitution: s}
	}
	frac := func(n uint32, d typev3.FractionalPercent_DenominatorType) *corev3.RuntimeFractionalPercent {
		return &corev3.RuntimeFractionalPercent{DefaultValue: &typev3.FractionalPercent{Numerator: n, Denominator: d}}
	}
	return []decodeCase{
		{"prefix rewrite", base(act(func(a *routev3.RouteAction) { a.PrefixRewrite = "/bar" })), nil, false},
		{"regex rewrite", base(act(func(a *routev3.RouteAction) { a.RegexRewrite = re("^/.*$", "/x") })), nil, false},
		{"host rewrite", base(act(func(a *routev3.RouteAction) {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "b.example"}
		})), nil, false},
		{"mirror all", base(act(func(a *routev3.RouteAction) {
			a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "s.default"}}
		})), nil, false},
		{"mirror share", base(act(func(a *routev3.RouteAction) {
			a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "s.default", RuntimeFraction: frac(25, typev3.FractionalPercent_HUNDRED)}}
		})), nil, false},
		{"mirror over 100 %", base(act(func(a *routev3.RouteAction) {
			a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "s.default", RuntimeFraction: frac(300, typev3.FractionalPercent_HUNDRED)}}
		})), nil, false},
		{"redirect", base(redirect(&routev3.RedirectAction{HostRedirect: "b.example", PortRedirect: 8080,
			SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "https"},
			PathRewriteSpecifier:   &routev3.RedirectAction_PrefixRewrite{PrefixRewrite: "/bar"},
			ResponseCode:           routev3.RedirectAction_PERMANENT_REDIRECT})), nil, false},
		{"https redirect", base(redirect(&routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_HttpsRedirect{HttpsRedirect: true},
			PathRewriteSpecifier: &routev3.RedirectAction_PathRedirect{PathRedirect: "/x?y=1"}})), nil, false},
		{"both rewrites", base(act(func(a *routev3.RouteAction) { a.PrefixRewrite, a.RegexRewrite = "/bar", re("^/", "/") })), errBeyondPGV, false},
		{"rewrite capture", base(act(func(a *routev3.RouteAction) { a.RegexRewrite = re("^/(.*)$", `/x/\1`) })), ErrUnsupported, true},
		{"rewrite bad regex", base(act(func(a *routev3.RouteAction) { a.RegexRewrite = re("(", "/") })), errBeyondPGV, false},
		{"rewrite crlf", base(act(func(a *routev3.RouteAction) { a.PrefixRewrite = "/a\r\nx: y" })), ErrInvalid, true},
		{"rewrite relative", base(act(func(a *routev3.RouteAction) { a.PrefixRewrite = "bar" })), errBeyondPGV, false},
		{"prefix rewrite of a regex match", base(func(r *rT) {
			r.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "/a.*"}}
			r.GetRoute().PrefixRewrite = "/b"
		}), errBeyondPGV, false},
		{"auto host rewrite", base(act(func(a *routev3.RouteAction) {
			a.HostRewriteSpecifier = &routev3.RouteAction_AutoHostRewrite{AutoHostRewrite: wrapperspb.Bool(true)}
		})), ErrUnsupported, true},
		{"host from header", base(act(func(a *routev3.RouteAction) {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteHeader{HostRewriteHeader: "x-host"}
		})), ErrUnsupported, true},
		{"bad host rewrite", base(act(func(a *routev3.RouteAction) {
			a.HostRewriteSpecifier = &routev3.RouteAction_HostRewriteLiteral{HostRewriteLiteral: "a b"}
		})), errBeyondPGV, false},
		{"mirror without cluster", base(act(func(a *routev3.RouteAction) {
			a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{}}
		})), errBeyondPGV, false},
		{"mirror cluster header", base(act(func(a *routev3.RouteAction) {
			a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{ClusterHeader: "x-c"}}
		})), ErrUnsupported, true},
		{"mirror trace sampled", base(act(func(a *routev3.RouteAction) {
			a.RequestMirrorPolicies = []*routev3.RouteAction_RequestMirrorPolicy{{Cluster: "s", TraceSampled: wrapperspb.Bool(false)}}
		})), ErrUnsupported, true},
		{"too many mirrors", base(act(func(a *routev3.RouteAction) {
			for range 5 {
				a.RequestMirrorPolicies = append(a.RequestMirrorPolicies, &routev3.RouteAction_RequestMirrorPolicy{Cluster: "s"})
			}
		})), errBeyondPGV, false},
		{"redirect code", base(redirect(&routev3.RedirectAction{ResponseCode: 9})), ErrInvalid, true},
		{"redirect port", base(redirect(&routev3.RedirectAction{PortRedirect: 70000})), errBeyondPGV, false},
		{"redirect path rewrite expression", base(redirect(&routev3.RedirectAction{PathRewriteSpecifier: &routev3.RedirectAction_PathRewrite{PathRewrite: "/{x}"}})), ErrUnsupported, true},
	}
}

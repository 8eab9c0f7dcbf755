package client

import (
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestRoutesDecodeRejects(t *testing.T) {
	runDecodeCases(t, routeCases(), func(b []byte) (any, error) { _, rc, err := decodeRoutes(b); return rc, err },
		func(b []byte) (any, error) { _, rc, err := realRoutes(b); return rc, err })
}

func routeCases() []decodeCase {
	type (
		vhT = routev3.VirtualHost
		rT  = routev3.Route
	)
	base := func(mut func(vh *vhT, r *rT)) proto.Message {
		r := &routev3.Route{Name: "r",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a.default"}}}}
		vh := &routev3.VirtualHost{Name: "a", Domains: []string{"a"}, Routes: []*routev3.Route{r}}
		mut(vh, r)
		return &routev3.RouteConfiguration{Name: outboundRoute, VirtualHosts: []*routev3.VirtualHost{vh}}
	}
	exact := func(v string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
	}
	regex := func(v string) *matcherv3.StringMatcher {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v}}}
	}
	header := func(name string, sm *matcherv3.StringMatcher) func(*vhT, *rT) {
		return func(_ *vhT, r *rT) {
			r.Match.Headers = []*routev3.HeaderMatcher{{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm}}}
		}
	}
	action := func(r *rT) *routev3.RouteAction { return r.GetRoute() }
	weighted := func(ws ...*routev3.WeightedCluster_ClusterWeight) func(*vhT, *rT) {
		return func(_ *vhT, r *rT) {
			action(r).ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: &routev3.WeightedCluster{Clusters: ws}}
		}
	}
	retryP := func(mut func(p *routev3.RetryPolicy)) func(*vhT, *rT) {
		return func(_ *vhT, r *rT) {
			p := &routev3.RetryPolicy{RetryOn: "connect-failure,5xx,unavailable", NumRetries: wrapperspb.UInt32(3),
				PerTryTimeout: durationpb.New(time.Second), RetriableStatusCodes: []uint32{409},
				RetryBackOff: &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(10 * time.Millisecond), MaxInterval: durationpb.New(time.Second)},
				RateLimitedRetryBackOff: &routev3.RetryPolicy_RateLimitedRetryBackOff{
					ResetHeaders: []*routev3.RetryPolicy_ResetHeader{{Name: "retry-after"}}, MaxInterval: durationpb.New(2 * time.Second)},
				RetriableRequestHeaders: []*routev3.HeaderMatcher{{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: regex(idempotentMethods)}}},
			}
			mut(p)
			action(r).RetryPolicy = p
		}
	}
	return []decodeCase{
		{"valid", base(func(*vhT, *rT) {}), nil, false},
		{"valid retry policy", base(retryP(func(*routev3.RetryPolicy) {})), nil, false},
		{"retry policy for every method", base(retryP(func(p *routev3.RetryPolicy) { p.RetriableRequestHeaders = nil })), nil, false},
		{"retry on an unknown condition", base(retryP(func(p *routev3.RetryPolicy) { p.RetryOn = "5xx,retriable-4xx" })), ErrUnsupported, true},
		{"too many retries", base(retryP(func(p *routev3.RetryPolicy) { p.NumRetries = wrapperspb.UInt32(11) })), errBeyondPGV, false},
		{"retry backoff without a base", base(retryP(func(p *routev3.RetryPolicy) { p.RetryBackOff.BaseInterval = nil })), ErrInvalid, true},
		{"retry backoff max under base", base(retryP(func(p *routev3.RetryPolicy) { p.RetryBackOff.MaxInterval = durationpb.New(time.Millisecond) })), ErrInvalid, false},
		{"retry-after with no header", base(retryP(func(p *routev3.RetryPolicy) { p.RateLimitedRetryBackOff.ResetHeaders = nil })), ErrInvalid, true},
		{"retriable status code 700", base(retryP(func(p *routev3.RetryPolicy) { p.RetriableStatusCodes = []uint32{700} })), ErrInvalid, false},
		{"retriable request headers other than the method", base(retryP(func(p *routev3.RetryPolicy) {
			p.RetriableRequestHeaders = []*routev3.HeaderMatcher{{Name: "x-retry", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact("1")}}}
		})), ErrUnsupported, false},
		{"valid cookie hash", base(func(_ *vhT, r *rT) {
			action(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: "s"}}}}
		}), nil, false},
		{"empty virtual host name", base(func(vh *vhT, _ *rT) { vh.Name = "" }), ErrInvalid, true},
		{"no domains", base(func(vh *vhT, _ *rT) { vh.Domains = nil }), ErrInvalid, true},
		{"domain with newline", base(func(vh *vhT, _ *rT) { vh.Domains = []string{"a\nb"} }), ErrInvalid, true},
		{"no match", base(func(_ *vhT, r *rT) { r.Match = nil }), ErrInvalid, true},
		{"no path specifier", base(func(_ *vhT, r *rT) { r.Match.PathSpecifier = nil }), ErrInvalid, true},
		{"no action", base(func(_ *vhT, r *rT) { r.Action = nil }), ErrInvalid, true},
		{"redirect to another scheme", base(func(_ *vhT, r *rT) {
			r.Action = &routev3.Route_Redirect{Redirect: &routev3.RedirectAction{SchemeRewriteSpecifier: &routev3.RedirectAction_SchemeRedirect{SchemeRedirect: "ftp"}}}
		}), ErrUnsupported, true},
		{"prefix not segment-aware", base(func(_ *vhT, r *rT) { r.Match.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/api"} }), ErrUnsupported, true},
		{"separated prefix ending in /", base(func(_ *vhT, r *rT) {
			r.Match.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/api/"}
		}), ErrInvalid, true},
		{"separated prefix with query", base(func(_ *vhT, r *rT) {
			r.Match.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: "/a?b"}
		}), ErrInvalid, true},
		{"empty path regex", base(func(_ *vhT, r *rT) {
			r.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{}}
		}), ErrInvalid, true},
		{"bad path regex", base(func(_ *vhT, r *rT) {
			r.Match.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: "(["}}
		}), errBeyondPGV, false},
		{"connect matcher", base(func(_ *vhT, r *rT) {
			r.Match.PathSpecifier = &routev3.RouteMatch_ConnectMatcher_{ConnectMatcher: &routev3.RouteMatch_ConnectMatcher{}}
		}), ErrUnsupported, true},
		{"header present match", base(func(_ *vhT, r *rT) {
			r.Match.Headers = []*routev3.HeaderMatcher{{Name: "x", HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}}
		}), ErrUnsupported, true},
		{"header empty name", base(header("", exact("v"))), ErrInvalid, true},
		{"header empty matcher", base(header("x", &matcherv3.StringMatcher{})), ErrInvalid, true},
		{"header prefix match", base(header("x", &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: "p"}})), ErrUnsupported, false},
		{"header ignore case", base(header("x", &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "v"}, IgnoreCase: true})), ErrUnsupported, false},
		{"method by regex", base(header(":method", regex("GET|POST"))), ErrUnsupported, false},
		{"header bad regex", base(header("x", regex("a{2,1}"))), errBeyondPGV, false},
		{"query present match", base(func(_ *vhT, r *rT) {
			r.Match.QueryParameters = []*routev3.QueryParameterMatcher{{Name: "q", QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_PresentMatch{PresentMatch: true}}}
		}), ErrUnsupported, false},
		{"query empty name", base(func(_ *vhT, r *rT) {
			r.Match.QueryParameters = []*routev3.QueryParameterMatcher{{QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: exact("1")}}}
		}), ErrInvalid, true},
		{"grpc only", base(func(_ *vhT, r *rT) { r.Match.Grpc = &routev3.RouteMatch_GrpcRouteMatchOptions{} }), ErrUnsupported, false},
		{"case insensitive path", base(func(_ *vhT, r *rT) { r.Match.CaseSensitive = wrapperspb.Bool(false) }), ErrUnsupported, false},
		{"case sensitive path", base(func(_ *vhT, r *rT) { r.Match.CaseSensitive = wrapperspb.Bool(true) }), nil, false},
		{"empty cluster", base(func(_ *vhT, r *rT) { action(r).ClusterSpecifier = &routev3.RouteAction_Cluster{} }), ErrInvalid, true},
		{"cluster header", base(func(_ *vhT, r *rT) {
			action(r).ClusterSpecifier = &routev3.RouteAction_ClusterHeader{ClusterHeader: "x-cluster"}
		}), ErrUnsupported, true},
		{"no cluster specifier", base(func(_ *vhT, r *rT) { action(r).ClusterSpecifier = nil }), ErrInvalid, true},
		{"no weighted clusters", base(weighted()), ErrInvalid, true},
		{"nameless weighted cluster", base(weighted(&routev3.WeightedCluster_ClusterWeight{Weight: wrapperspb.UInt32(1)})), errBeyondPGV, false},
		{"weights all zero", base(weighted(&routev3.WeightedCluster_ClusterWeight{Name: "a"}, &routev3.WeightedCluster_ClusterWeight{Name: "b"})), errBeyondPGV, false},
		{"weights past 2^32", base(weighted(&routev3.WeightedCluster_ClusterWeight{Name: "a", Weight: wrapperspb.UInt32(1 << 31)},
			&routev3.WeightedCluster_ClusterWeight{Name: "b", Weight: wrapperspb.UInt32(1 << 31)})), errBeyondPGV, false},
		{"hash header without name", base(func(_ *vhT, r *rT) {
			action(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{Header: &routev3.RouteAction_HashPolicy_Header{}}}}
		}), ErrInvalid, true},
		{"hash policy unset", base(func(_ *vhT, r *rT) { action(r).HashPolicy = []*routev3.RouteAction_HashPolicy{{}} }), ErrInvalid, true},
	}
}

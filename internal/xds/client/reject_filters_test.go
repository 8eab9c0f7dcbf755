package client

import (
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	commonfaultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Per-route fault and rate-limit configs: what the sidecar enforces maps
// as xdstest.ToProxy maps it; what it cannot honour is NACKed.
func TestFilterConfigDecodeRejects(t *testing.T) {
	runDecodeCases(t, filterCases(t), func(b []byte) (any, error) { _, rc, err := decodeRoutes(b); return rc, err },
		func(b []byte) (any, error) { _, rc, err := realRoutes(b); return rc, err })
}

func filterCases(t testing.TB) []decodeCase {
	pct := func(n uint32) *typev3.FractionalPercent {
		return &typev3.FractionalPercent{Numerator: n, Denominator: typev3.FractionalPercent_HUNDRED}
	}
	all := &corev3.RuntimeFractionalPercent{DefaultValue: pct(100)}
	limit := func(mut func(*ratelimitv3.LocalRateLimit)) *ratelimitv3.LocalRateLimit {
		l := &ratelimitv3.LocalRateLimit{StatPrefix: "x", FilterEnabled: all, FilterEnforced: all,
			TokenBucket: &typev3.TokenBucket{MaxTokens: 5, TokensPerFill: wrapperspb.UInt32(10), FillInterval: durationpb.New(100 * time.Millisecond)}}
		mut(l)
		return l
	}
	abort := func(a *faultv3.FaultAbort) *faultv3.HTTPFault { return &faultv3.HTTPFault{Abort: a} }
	route := func(vhost bool, name string, m proto.Message) proto.Message {
		a, err := anypb.New(m)
		if err != nil {
			t.Fatal(err)
		}
		r := &routev3.Route{Name: "r",
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: "a.default"}}}}
		vh := &routev3.VirtualHost{Name: "a", Domains: []string{"a"}, Routes: []*routev3.Route{r}}
		if vhost {
			vh.TypedPerFilterConfig = map[string]*anypb.Any{name: a}
		} else {
			r.TypedPerFilterConfig = map[string]*anypb.Any{name: a}
		}
		return &routev3.RouteConfiguration{Name: outboundRoute, VirtualHosts: []*routev3.VirtualHost{vh}}
	}
	const f, rl = faultFilter, rateLimitFilter
	delay := &faultv3.HTTPFault{Delay: &commonfaultv3.FaultDelay{
		FaultDelaySecifier: &commonfaultv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(time.Second)}, Percentage: pct(10)}}
	return []decodeCase{
		{"delay", route(false, f, delay), nil, false},
		{"abort http", route(false, f, abort(&faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 503}, Percentage: pct(50)})), nil, false},
		{"abort grpc", route(false, f, abort(&faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_GrpcStatus{GrpcStatus: 14}})), nil, false},
		{"rate limit", route(false, rl, limit(func(*ratelimitv3.LocalRateLimit) {})), nil, false},
		{"host rate limit", route(true, rl, limit(func(*ratelimitv3.LocalRateLimit) {})), nil, false},
		{"abort status", route(false, f, abort(&faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HttpStatus{HttpStatus: 99}})), ErrInvalid, true},
		{"abort without type", route(false, f, abort(&faultv3.FaultAbort{Percentage: pct(1)})), ErrInvalid, true},
		{"header abort", route(false, f, abort(&faultv3.FaultAbort{ErrorType: &faultv3.FaultAbort_HeaderAbort_{HeaderAbort: &faultv3.FaultAbort_HeaderAbort{}}})), ErrUnsupported, false},
		{"fault by cluster", route(false, f, &faultv3.HTTPFault{UpstreamCluster: "x"}), ErrUnsupported, false},
		{"fault on host", route(true, f, delay), ErrUnsupported, false},
		{"no stat prefix", route(false, rl, limit(func(l *ratelimitv3.LocalRateLimit) { l.StatPrefix = "" })), ErrInvalid, true},
		{"short fill", route(false, rl, limit(func(l *ratelimitv3.LocalRateLimit) { l.TokenBucket.FillInterval = durationpb.New(time.Millisecond) })), ErrInvalid, false},
		{"no tokens", route(false, rl, limit(func(l *ratelimitv3.LocalRateLimit) { l.TokenBucket.MaxTokens = 0 })), ErrInvalid, false},
		{"half enforced", route(false, rl, limit(func(l *ratelimitv3.LocalRateLimit) {
			l.FilterEnforced = &corev3.RuntimeFractionalPercent{DefaultValue: pct(50)}
		})), ErrUnsupported, false},
		{"no bucket", route(false, rl, limit(func(l *ratelimitv3.LocalRateLimit) { l.TokenBucket = nil })), ErrUnsupported, false},
		{"other filter", route(false, "envoy.filters.http.cors", delay), ErrUnsupported, true},
	}
}

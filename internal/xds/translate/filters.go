package translate

import (
	"fmt"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	commonfaultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/common/fault/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// HTTP filter names as Envoy registers them; typed_per_filter_config is
// keyed by them.
const (
	faultFilter     = "envoy.filters.http.fault"
	rateLimitFilter = "envoy.filters.http.local_ratelimit"
	rateLimitStats  = "weft_local_rate_limit"
)

// ruleFilters is the per-route filter config of a rule's filters, or nil
// when it has none.
func ruleFilters(rule *mesh.HTTPRouteRule) (map[string]*anypb.Any, error) {
	var out map[string]*anypb.Any
	put := func(name string, a *anypb.Any) {
		if out == nil {
			out = map[string]*anypb.Any{}
		}
		out[name] = a
	}
	for i, f := range rule.Filters {
		switch {
		case f.Type == mesh.FilterFault && f.Fault != nil:
			a, err := anypb.New(faultConfig(f.Fault))
			if err != nil {
				return nil, fmt.Errorf("filters[%d]: %w", i, err)
			}
			put(faultFilter, a)
		case f.Type == mesh.FilterRateLimit && f.RateLimit != nil:
			a, err := rateLimitAny(f.RateLimit)
			if err != nil {
				return nil, fmt.Errorf("filters[%d]: %w", i, err)
			}
			put(rateLimitFilter, a)
		}
	}
	return out, nil
}

func faultConfig(f *mesh.FaultFilter) *faultv3.HTTPFault {
	out := &faultv3.HTTPFault{}
	if d := f.Delay; d != nil {
		out.Delay = &commonfaultv3.FaultDelay{
			FaultDelaySecifier: &commonfaultv3.FaultDelay_FixedDelay{FixedDelay: durationpb.New(d.FixedDelayDuration())},
			Percentage:         percent(d.Percent),
		}
	}
	if a := f.Abort; a != nil {
		out.Abort = &faultv3.FaultAbort{Percentage: percent(a.Percent)}
		if a.GRPCStatus != 0 {
			out.Abort.ErrorType = &faultv3.FaultAbort_GrpcStatus{GrpcStatus: uint32(a.GRPCStatus)}
		} else {
			out.Abort.ErrorType = &faultv3.FaultAbort_HttpStatus{HttpStatus: uint32(a.HTTPStatus)}
		}
	}
	return out
}

func percent(p *int32) *typev3.FractionalPercent {
	v := uint32(100)
	if p != nil {
		v = uint32(*p)
	}
	return &typev3.FractionalPercent{Numerator: v, Denominator: typev3.FractionalPercent_HUNDRED}
}

// rateLimitAny is a LocalRateLimit whose token bucket refills at the
// rule's rate. Envoy refills in steps of at least 50ms, so the shortest
// interval in which a whole number of tokens is due is chosen: the steady
// rate is exact and the step small.
func rateLimitAny(rl *mesh.RateLimit) (*anypb.Any, error) {
	rps := int64(rl.RequestsPerSecond)
	fill := time.Second
	for _, ms := range []int64{50, 100, 200, 250, 500} {
		if rps*ms%1000 == 0 {
			fill = time.Duration(ms) * time.Millisecond
			break
		}
	}
	burst := max(1, rl.RequestsPerSecond/10)
	if rl.Burst != nil {
		burst = *rl.Burst
	}
	all := &corev3.RuntimeFractionalPercent{
		DefaultValue: &typev3.FractionalPercent{Numerator: 100, Denominator: typev3.FractionalPercent_HUNDRED},
	}
	return anypb.New(&ratelimitv3.LocalRateLimit{
		StatPrefix: rateLimitStats,
		TokenBucket: &typev3.TokenBucket{
			MaxTokens:     uint32(burst),
			TokensPerFill: wrapperspb.UInt32(uint32(rps * int64(fill/time.Millisecond) / 1000)),
			FillInterval:  durationpb.New(fill),
		},
		FilterEnabled:          all,
		FilterEnforced:         all,
		EnableRetryAfterHeader: true,
	})
}

// listenerFilters are the HTTP filters a sidecar's connection manager
// runs before the router: unconfigured at this level, so they act only on
// routes and virtual hosts whose typed_per_filter_config enables them
// (Envoy's documented per-route form). The rate limit comes first, so a
// refused request is not delayed.
func listenerFilters() ([]*anypb.Any, []string, error) {
	rl, err := anypb.New(&ratelimitv3.LocalRateLimit{StatPrefix: rateLimitStats})
	if err != nil {
		return nil, nil, err
	}
	f, err := anypb.New(&faultv3.HTTPFault{})
	if err != nil {
		return nil, nil, err
	}
	return []*anypb.Any{rl, f}, []string{rateLimitFilter, faultFilter}, nil
}

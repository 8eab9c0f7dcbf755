package xdstest

import (
	"fmt"

	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	ratelimitv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
)

// filtersFromXDS maps typed_per_filter_config: the fault filter's delay and
// abort, and the local rate limit's token bucket as a continuous bucket of
// the same average rate and capacity. Other filters are refused.
func filtersFromXDS(m map[string]*anypb.Any) (*fault.Config, *ratelimit.Config, error) {
	var fc *fault.Config
	var rc *ratelimit.Config
	for name, a := range m {
		switch name {
		case "envoy.filters.http.fault":
			var f faultv3.HTTPFault
			if err := a.UnmarshalTo(&f); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			// The route's validation does not reach into an Any.
			if err := f.ValidateAll(); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			fc = &fault.Config{}
			if d := f.GetDelay(); d != nil {
				fc.Delay = d.GetFixedDelay().AsDuration()
				fc.DelayShare = perMillion(d.GetPercentage())
			}
			if ab := f.GetAbort(); ab != nil {
				fc.AbortHTTP = int(ab.GetHttpStatus())
				fc.AbortGRPC = int(ab.GetGrpcStatus())
				fc.AbortShare = perMillion(ab.GetPercentage())
			}
		case "envoy.filters.http.local_ratelimit":
			var l ratelimitv3.LocalRateLimit
			if err := a.UnmarshalTo(&l); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			if err := l.ValidateAll(); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", name, err)
			}
			tb := l.GetTokenBucket()
			perFill := uint32(1)
			if v := tb.GetTokensPerFill(); v != nil {
				perFill = v.GetValue()
			}
			rc = &ratelimit.Config{Rate: float64(perFill) / tb.GetFillInterval().AsDuration().Seconds(), Burst: tb.GetMaxTokens()}
		default:
			return nil, nil, fmt.Errorf("per-filter config for %s is not supported", name)
		}
	}
	return fc, rc, nil
}

func perMillion(p *typev3.FractionalPercent) uint32 {
	scale := uint64(1)
	switch p.GetDenominator() {
	case typev3.FractionalPercent_HUNDRED:
		scale = 10_000
	case typev3.FractionalPercent_TEN_THOUSAND:
		scale = 100
	}
	return uint32(min(uint64(p.GetNumerator())*scale, fault.Million))
}

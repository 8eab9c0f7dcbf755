package client

import (
	"fmt"
	"sort"
	"time"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// The HTTP filters whose per-route configs the sidecar enforces, by the
// names Envoy registers them under and the messages they carry.
const (
	faultFilter       = "envoy.filters.http.fault"
	rateLimitFilter   = "envoy.filters.http.local_ratelimit"
	typeURLPrefix     = "type.googleapis.com/"
	faultTypeURL      = typeURLPrefix + "envoy.extensions.filters.http.fault.v3.HTTPFault"
	rateLimitTypeURL  = typeURLPrefix + "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit"
	minFillInterval   = 50 * time.Millisecond // Envoy's lower bound on fill_interval
	maxFaultGRPCCode  = 16
	maxFilterConfigs  = 16
	fieldPerFilterCfg = "typed_per_filter_config"
)

// perFilterToProxy maps a route's or virtual host's typed_per_filter_config.
// A filter the sidecar does not run is refused: Envoy would act on it, so
// accepting it would drop behaviour silently. allowFault is false for a
// virtual host, where the proxy keeps only a rate limit.
func perFilterToProxy(m map[string]*anypb.Any, allowFault bool) (*fault.Config, *ratelimit.Config, error) {
	if len(m) > maxFilterConfigs {
		return nil, nil, overLimit(fieldPerFilterCfg, maxFilterConfigs)
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names) // the first error is the same on every push
	var fc *fault.Config
	var rc *ratelimit.Config
	for _, name := range names {
		a := m[name]
		p := fmt.Sprintf("%s[%q]", fieldPerFilterCfg, name)
		switch {
		case name == faultFilter && allowFault:
			if a.GetTypeUrl() != faultTypeURL {
				return nil, nil, unsupported(p, "type %q", a.GetTypeUrl())
			}
			var f envoypb.HTTPFault
			if err := unmarshal(a.GetValue(), &f); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", p, err)
			}
			c, err := faultToProxy(&f)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.%w", p, err)
			}
			fc = c
		case name == rateLimitFilter:
			if a.GetTypeUrl() != rateLimitTypeURL {
				return nil, nil, unsupported(p, "type %q", a.GetTypeUrl())
			}
			var l envoypb.LocalRateLimit
			if err := unmarshal(a.GetValue(), &l); err != nil {
				return nil, nil, fmt.Errorf("%s: %w", p, err)
			}
			c, err := rateLimitToProxy(&l)
			if err != nil {
				return nil, nil, fmt.Errorf("%s.%w", p, err)
			}
			rc = c
		default:
			if err := capped(fieldPerFilterCfg, name, maxName); err != nil {
				return nil, nil, err
			}
			return nil, nil, unsupported(p, "the sidecar does not run this filter here")
		}
	}
	return fc, rc, nil
}

func faultToProxy(f *envoypb.HTTPFault) (*fault.Config, error) {
	switch {
	case f.GetUpstreamCluster() != "" || len(f.GetHeaders()) > 0 || len(f.GetDownstreamNodes()) > 0:
		return nil, unsupported("fault", "faults narrowed by cluster, header or node")
	case f.GetMaxActiveFaults() != nil:
		return nil, unsupported("max_active_faults", "a cap on concurrent faults")
	case f.GetResponseRateLimit() != nil:
		return nil, unsupported("response_rate_limit", "response bandwidth limits")
	}
	c := &fault.Config{}
	if d := f.GetDelay(); d != nil {
		switch s := d.GetFaultDelaySecifier().(type) {
		case *envoypb.FaultDelay_FixedDelay:
			if err := s.FixedDelay.CheckValid(); err != nil || s.FixedDelay.AsDuration() < 0 {
				return nil, stricter("delay.fixed_delay", "must be a non-negative duration")
			}
			c.Delay = s.FixedDelay.AsDuration()
		case *envoypb.FaultDelay_HeaderDelay:
			return nil, unsupported("delay.header_delay", "delays chosen by a request header")
		default:
			return nil, invalid("delay.fault_delay_secifier", "is required")
		}
		c.DelayShare = perMillion(d.GetPercentage())
	}
	if a := f.GetAbort(); a != nil {
		switch s := a.GetErrorType().(type) {
		case *envoypb.FaultAbort_HttpStatus:
			if s.HttpStatus < 200 || s.HttpStatus >= 600 {
				return nil, invalid("abort.http_status", "%d is not in 200..599", s.HttpStatus)
			}
			c.AbortHTTP = int(s.HttpStatus)
		case *envoypb.FaultAbort_GrpcStatus:
			if s.GrpcStatus > maxFaultGRPCCode {
				return nil, stricter("abort.grpc_status", "%d is not a gRPC status code", s.GrpcStatus)
			}
			c.AbortGRPC = int(s.GrpcStatus)
		case *envoypb.FaultAbort_HeaderAbort:
			return nil, unsupported("abort.header_abort", "aborts chosen by a request header")
		default:
			return nil, invalid("abort.error_type", "is required")
		}
		c.AbortShare = perMillion(a.GetPercentage())
	}
	return c, nil
}

// perMillion converts a FractionalPercent; an unset one is 0 %, as in
// Envoy, and a numerator past its denominator means all.
func perMillion(p *envoypb.FractionalPercent) uint32 {
	var scale uint64
	switch p.GetDenominator() {
	case envoypb.FractionalPercent_HUNDRED:
		scale = 10_000
	case envoypb.FractionalPercent_TEN_THOUSAND:
		scale = 100
	default:
		scale = 1
	}
	return uint32(min(uint64(p.GetNumerator())*scale, fault.Million))
}

// rateLimitToProxy maps a LocalRateLimit enforced on every request: the
// token bucket becomes a continuous one with the same average rate and
// capacity. Partial enforcement, descriptors, custom statuses and
// per-connection buckets are refused.
func rateLimitToProxy(l *envoypb.LocalRateLimit) (*ratelimit.Config, error) {
	if !nonEmpty(l.GetStatPrefix()) {
		return nil, invalid("stat_prefix", "must not be empty")
	}
	switch {
	case l.GetStatus() != nil:
		return nil, unsupported("status", "a custom status for limited requests")
	case len(l.GetDescriptors()) > 0:
		return nil, unsupported("descriptors", "limits per descriptor")
	case l.GetLocalRateLimitPerDownstreamConnection():
		return nil, unsupported("local_rate_limit_per_downstream_connection", "a bucket per connection")
	case perMillion(l.GetFilterEnabled().GetDefaultValue()) != fault.Million || perMillion(l.GetFilterEnforced().GetDefaultValue()) != fault.Million:
		return nil, unsupported("filter_enabled", "a limit enabled and enforced on less than all requests")
	}
	tb := l.GetTokenBucket()
	if tb == nil {
		return nil, unsupported("token_bucket", "a per-route limit without a bucket")
	}
	fill := tb.GetFillInterval()
	if fill == nil || fill.CheckValid() != nil || fill.AsDuration() < minFillInterval {
		return nil, stricter("token_bucket.fill_interval", "must be at least %v", minFillInterval)
	}
	if tb.GetMaxTokens() == 0 {
		return nil, stricter("token_bucket.max_tokens", "must be > 0")
	}
	perFill := uint32(1)
	if v := tb.GetTokensPerFill(); v != nil {
		if v.GetValue() == 0 {
			return nil, stricter("token_bucket.tokens_per_fill", "must be > 0")
		}
		perFill = v.GetValue()
	}
	return &ratelimit.Config{Rate: float64(perFill) / fill.AsDuration().Seconds(), Burst: tb.GetMaxTokens()}, nil
}

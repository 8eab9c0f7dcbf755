package xdstest

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

func u32(v *wrapperspb.UInt32Value, d uint32) uint32 {
	if v == nil {
		return d
	}
	return v.Value
}

func dur(v *durationpb.Duration, d time.Duration) time.Duration {
	if v == nil {
		return d
	}
	return v.AsDuration()
}

// resilienceFromXDS maps circuit breakers, outlier detection and Weft's
// cluster metadata with Envoy's documented defaults.
func resilienceFromXDS(c *clusterv3.Cluster, cc *cluster.Config) {
	for _, t := range c.GetCircuitBreakers().GetThresholds() {
		if t.Priority == corev3.RoutingPriority_DEFAULT {
			cc.Breaker = breaker.Limits{
				MaxConnections:     u32(t.MaxConnections, 1024),
				MaxPendingRequests: u32(t.MaxPendingRequests, 1024),
				MaxRequests:        u32(t.MaxRequests, 1024),
				MaxRetries:         u32(t.MaxRetries, 3),
			}
			if t.RetryBudget != nil {
				cc.RetryBudget = budgetFromXDS(t.RetryBudget)
				cc.Breaker.MaxRetries = 0 // a retry budget overrides max_retries
			}
			break
		}
	}
	for _, t := range c.GetCircuitBreakers().GetPerHostThresholds() {
		if t.Priority == corev3.RoutingPriority_DEFAULT && t.MaxConnections != nil {
			cc.MaxConnsPerEndpoint = int(t.MaxConnections.Value)
			break
		}
	}
	if o := c.OutlierDetection; o != nil {
		cc.Outlier = &breaker.OutlierConfig{
			Consecutive5xx:           u32(o.Consecutive_5Xx, 5),
			Enforcing5xx:             u32(o.EnforcingConsecutive_5Xx, 100),
			ConsecutiveGateway:       u32(o.ConsecutiveGatewayFailure, 5),
			EnforcingGateway:         u32(o.EnforcingConsecutiveGatewayFailure, 0),
			SplitLocalOrigin:         o.SplitExternalLocalOriginErrors,
			ConsecutiveLocalOrigin:   u32(o.ConsecutiveLocalOriginFailure, 5),
			EnforcingLocalOrigin:     u32(o.EnforcingConsecutiveLocalOriginFailure, 100),
			Interval:                 dur(o.Interval, 10*time.Second),
			BaseEjectionTime:         dur(o.BaseEjectionTime, 30*time.Second),
			MaxEjectionTime:          dur(o.MaxEjectionTime, 300*time.Second),
			MaxEjectionPercent:       u32(o.MaxEjectionPercent, 10),
			EnforcingSuccessRate:     u32(o.EnforcingSuccessRate, 100),
			SuccessRateMinimumHosts:  u32(o.SuccessRateMinimumHosts, 5),
			SuccessRateRequestVolume: u32(o.SuccessRateRequestVolume, 100),
			SuccessRateStdevFactor:   u32(o.SuccessRateStdevFactor, 1900),
		}
	}
	if v, ok := c.GetMetadata().GetFilterMetadata()["weft"].GetFields()["max_idle_per_endpoint"]; ok {
		cc.MaxIdlePerEndpoint = int(v.GetNumberValue())
	}
}

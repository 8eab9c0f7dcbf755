package translate

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// MaxIdleKey is the field of a cluster's filter_metadata["weft"] that caps
// idle pooled connections per endpoint: Envoy has no such setting, so it
// travels as Weft's own cluster metadata.
const MaxIdleKey = "max_idle_per_endpoint"

// Envoy's defaults, written out so every xDS client reads the same values.
const (
	defaultBreakerCap  = 1024
	defaultMaxRetries  = 3
	defaultConsecutive = 5
	defaultEjectPct    = 10
	defaultSRMinHosts  = 5
	defaultSRVolume    = 100
	defaultSRStdev     = 1900
)

// connectionLimits maps connectionPool.maxConnections onto Envoy's
// per-host threshold (the only per-host limit Envoy has) and maxIdle onto
// Weft's cluster metadata.
func connectionLimits(c *clusterv3.Cluster, cp *mesh.ConnectionPool) {
	if cp.MaxConnections > 0 {
		breakers(c).PerHostThresholds = []*clusterv3.CircuitBreakers_Thresholds{{
			MaxConnections: wrapperspb.UInt32(uint32(cp.MaxConnections)),
		}}
	}
	if cp.MaxIdle > 0 {
		c.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataKey: {
			Fields: map[string]*structpb.Value{MaxIdleKey: structpb.NewNumberValue(float64(cp.MaxIdle))},
		}}}
	}
}

func breakers(c *clusterv3.Cluster) *clusterv3.CircuitBreakers {
	if c.CircuitBreakers == nil {
		c.CircuitBreakers = &clusterv3.CircuitBreakers{}
	}
	return c.CircuitBreakers
}

func orDefault(v int32, d uint32) *wrapperspb.UInt32Value {
	if v > 0 {
		return wrapperspb.UInt32(uint32(v))
	}
	return wrapperspb.UInt32(d)
}

// circuitBreaker maps the Service's caps onto the DEFAULT-priority
// threshold.
func circuitBreaker(c *clusterv3.Cluster, cb *mesh.CircuitBreaker) {
	breakers(c).Thresholds = []*clusterv3.CircuitBreakers_Thresholds{{
		Priority:           corev3.RoutingPriority_DEFAULT,
		MaxConnections:     orDefault(cb.MaxConnections, defaultBreakerCap),
		MaxPendingRequests: orDefault(cb.MaxPendingRequests, defaultBreakerCap),
		MaxRequests:        orDefault(cb.MaxRequests, defaultBreakerCap),
		MaxRetries:         orDefault(cb.MaxRetries, defaultMaxRetries),
	}}
}

func durationOr(s string, d time.Duration) *durationpb.Duration {
	if v, err := time.ParseDuration(s); err == nil && v > 0 {
		return durationpb.New(v)
	}
	return durationpb.New(d)
}

func enforcing(on bool) *wrapperspb.UInt32Value {
	if on {
		return wrapperspb.UInt32(100)
	}
	return wrapperspb.UInt32(0)
}

// outlierDetection writes every field Weft enforces, defaults included,
// and turns off the checks the policy did not ask for (Envoy enables
// success rate by default).
func outlierDetection(od *mesh.OutlierDetection) *clusterv3.OutlierDetection {
	c5 := int32(defaultConsecutive)
	if od.Consecutive5xx != nil {
		c5 = *od.Consecutive5xx
	}
	pct := int32(defaultEjectPct)
	if od.MaxEjectionPercent != nil {
		pct = *od.MaxEjectionPercent
	}
	o := &clusterv3.OutlierDetection{
		Consecutive_5Xx:                    orDefault(c5, defaultConsecutive),
		EnforcingConsecutive_5Xx:           enforcing(c5 > 0),
		ConsecutiveGatewayFailure:          orDefault(od.ConsecutiveGatewayErrors, defaultConsecutive),
		EnforcingConsecutiveGatewayFailure: enforcing(od.ConsecutiveGatewayErrors > 0),
		Interval:                           durationOr(od.Interval, 10*time.Second),
		BaseEjectionTime:                   durationOr(od.BaseEjectionTime, 30*time.Second),
		MaxEjectionTime:                    durationOr(od.MaxEjectionTime, 300*time.Second),
		MaxEjectionPercent:                 wrapperspb.UInt32(uint32(pct)),
		EnforcingSuccessRate:               enforcing(od.SuccessRate != nil),
	}
	if n := od.ConsecutiveConnectFailures; n > 0 {
		o.SplitExternalLocalOriginErrors = true
		o.ConsecutiveLocalOriginFailure = wrapperspb.UInt32(uint32(n))
		o.EnforcingConsecutiveLocalOriginFailure = enforcing(true)
		o.EnforcingLocalOriginSuccessRate = enforcing(false)
	}
	if sr := od.SuccessRate; sr != nil {
		o.SuccessRateMinimumHosts = orDefault(sr.MinimumHosts, defaultSRMinHosts)
		o.SuccessRateRequestVolume = orDefault(sr.RequestVolume, defaultSRVolume)
		o.SuccessRateStdevFactor = orDefault(sr.StdevFactor, defaultSRStdev)
	}
	return o
}

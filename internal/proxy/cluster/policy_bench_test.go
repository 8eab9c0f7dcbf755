package cluster

import (
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
)

// BenchmarkPolicyCost is the cluster-side work of one request (breaker
// acquire, pick, begin, end with its status) with the breaker and outlier
// detection off and on: what the policies add to the request path.
func BenchmarkPolicyCost(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			cfg := Config{Name: "c", Endpoints: []EndpointConfig{{Address: "127.0.0.1:1"}, {Address: "127.0.0.1:2"}, {Address: "127.0.0.1:3"}}}
			if on {
				cfg.Breaker = breaker.Limits{MaxConnections: 1000, MaxPendingRequests: 1000, MaxRequests: 1000, MaxRetries: 3}
				cfg.Outlier = &breaker.OutlierConfig{Consecutive5xx: 5, Enforcing5xx: 100, ConsecutiveGateway: 5, EnforcingGateway: 100,
					Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 10,
					EnforcingSuccessRate: 100, SuccessRateMinimumHosts: 5, SuccessRateRequestVolume: 100, SuccessRateStdevFactor: 1900}
			}
			s, err := NewSet([]Config{cfg}, nil)
			if err != nil {
				b.Fatal(err)
			}
			defer Retire(s, nil)
			cl := s.Get("c")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if !cl.Breaker.Acquire(breaker.Requests) {
					b.Fatal("overflow")
				}
				ep := cl.Pick(0, false)
				began := ep.Begin()
				cl.Breaker.Acquire(breaker.Pending)
				cl.Breaker.Release(breaker.Pending)
				ep.EndStatus(began, 200)
				cl.Breaker.Release(breaker.Requests)
			}
		})
	}
}

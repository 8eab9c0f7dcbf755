package mesh

import "time"

// maxBreakerCount bounds every circuit-breaker cap.
const maxBreakerCount = 1_000_000

func validateBreaker(v *errs, cb *CircuitBreaker) {
	if cb == nil {
		return
	}
	for name, n := range map[string]int32{
		"maxConnections": cb.MaxConnections, "maxPendingRequests": cb.MaxPendingRequests,
		"maxRequests": cb.MaxRequests, "maxRetries": cb.MaxRetries,
	} {
		if n < 0 || n > maxBreakerCount {
			v.add("spec.circuitBreaker."+name, "must be in 0..%d; got %d", maxBreakerCount, n)
		}
	}
}

func validateOutlier(v *errs, od *OutlierDetection) {
	if od == nil {
		return
	}
	const p = "spec.outlierDetection."
	counts := map[string]int32{
		"consecutiveGatewayErrors": od.ConsecutiveGatewayErrors, "consecutiveConnectFailures": od.ConsecutiveConnectFailures,
	}
	if od.Consecutive5xx != nil {
		counts["consecutive5xx"] = *od.Consecutive5xx
	}
	if sr := od.SuccessRate; sr != nil {
		counts["successRate.minimumHosts"] = sr.MinimumHosts
		counts["successRate.requestVolume"] = sr.RequestVolume
		counts["successRate.stdevFactor"] = sr.StdevFactor
	}
	for name, n := range counts {
		if n < 0 || n > maxBreakerCount {
			v.add(p+name, "must be in 0..%d; got %d", maxBreakerCount, n)
		}
	}
	if m := od.MaxEjectionPercent; m != nil && (*m < 0 || *m > 100) {
		v.add(p+"maxEjectionPercent", "must be a percentage 0..100; got %d", *m)
	}
	checkDuration(v, p+"interval", od.Interval)
	checkDuration(v, p+"baseEjectionTime", od.BaseEjectionTime)
	checkDuration(v, p+"maxEjectionTime", od.MaxEjectionTime)
	for name, s := range map[string]string{"interval": od.Interval, "baseEjectionTime": od.BaseEjectionTime, "maxEjectionTime": od.MaxEjectionTime} {
		if d, err := time.ParseDuration(s); err == nil && d > 0 && d < time.Millisecond {
			v.add(p+name, "must be at least 1ms; got %q", s)
		}
	}
}

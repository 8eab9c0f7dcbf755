package mesh

import (
	"fmt"
	"strings"
	"testing"
)

func TestResiliencePolicyValidation(t *testing.T) {
	const policy = `{"apiVersion":"weft.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"catalog"},"spec":{"targetRef":{"name":"catalog"},%s}}`
	ok := []string{
		`"circuitBreaker":{"maxConnections":10,"maxPendingRequests":5,"maxRequests":20,"maxRetries":2}`,
		`"outlierDetection":{}`,
		`"outlierDetection":{"consecutive5xx":0,"maxEjectionPercent":0}`,
		`"outlierDetection":{"consecutive5xx":3,"consecutiveGatewayErrors":2,"consecutiveConnectFailures":1,"interval":"1s","baseEjectionTime":"5s","maxEjectionTime":"1m","maxEjectionPercent":50,"successRate":{"minimumHosts":3,"requestVolume":10,"stdevFactor":1000}}`,
		`"connectionPool":{"maxIdle":4}`,
	}
	for _, in := range ok {
		if _, err := Decode([]byte(fmt.Sprintf(policy, in))); err != nil {
			t.Errorf("%s: %v", in, err)
		}
	}
	bad := []struct{ in, want string }{
		{`"circuitBreaker":{"maxRequests":-1}`, "spec.circuitBreaker.maxRequests: must be in 0..1000000; got -1"},
		{`"circuitBreaker":{"maxRetries":2000000}`, "spec.circuitBreaker.maxRetries: must be in 0..1000000"},
		{`"outlierDetection":{"maxEjectionPercent":101}`, "spec.outlierDetection.maxEjectionPercent: must be a percentage 0..100; got 101"},
		{`"outlierDetection":{"consecutive5xx":-2}`, "spec.outlierDetection.consecutive5xx: must be in 0..1000000; got -2"},
		{`"outlierDetection":{"interval":"soon"}`, "spec.outlierDetection.interval: must be a duration"},
		{`"outlierDetection":{"baseEjectionTime":"100us"}`, "spec.outlierDetection.baseEjectionTime: must be at least 1ms"},
		{`"outlierDetection":{"maxEjectionTime":"48h"}`, "spec.outlierDetection.maxEjectionTime: must be a duration such as 500ms or 10s, at most 24h"},
		{`"outlierDetection":{"successRate":{"stdevFactor":-1}}`, "spec.outlierDetection.successRate.stdevFactor: must be in 0..1000000"},
		{`"connectionPool":{"maxIdle":70000}`, "spec.connectionPool.maxIdle: must be in 0..65535; got 70000"},
	}
	for _, tt := range bad {
		_, err := Decode([]byte(fmt.Sprintf(policy, tt.in)))
		if err == nil || !strings.Contains(err.Error(), "TrafficPolicy/default/catalog: "+tt.want) {
			t.Errorf("%s: err = %v\nwant %q", tt.in, err, tt.want)
		}
	}
}

//go:build !proxyonly

package cli

import (
	"fmt"
	"strings"
)

// shopYAML is the demo shop's mesh config at the start: its three
// Services (catalog with a subset per version), catalog's resilience
// policy, and catalog's route (all to v1).
func shopYAML() string {
	return `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: frontend}
spec: {ports: [{port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: ratings}
spec: {ports: [{port: 80}]}
---
` + catalogPolicyYAML + "---\n" + catalogRouteYAML(0, false)
}

// catalogPolicyYAML: callers of catalog retry a failed try on another
// instance, and take out an instance that fails three times in a row.
// Round robin keeps giving a failing instance its share until it is
// ejected, which is what the demo shows; the default (P2C over peak EWMA)
// counts a failure as a second of latency and shuns the instance by itself.
const catalogPolicyYAML = `apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: catalog}
spec:
  targetRef: {name: catalog}
  loadBalancer: {type: ROUND_ROBIN}
  retries: {attempts: 2, retryOn: [5xx, connect-failure, reset]}
  outlierDetection: {consecutive5xx: 3, interval: 1s, baseEjectionTime: 15s, maxEjectionPercent: 50}
`

// catalogRouteYAML is catalog's HTTPRoute: v2Weight percent of requests
// to v2 and the rest to v1; with beta, beta testers' requests all go to v2.
func catalogRouteYAML(v2Weight int, beta bool) string {
	var b strings.Builder
	b.WriteString(`apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{name: catalog}]
  rules:
`)
	if beta {
		fmt.Fprintf(&b, "  - matches: [{headers: [{name: %s, value: %s}]}]\n    backendRefs: [{name: catalog, subset: v2}]\n", betaHeader, betaUser)
	}
	if v2Weight == 0 {
		b.WriteString("  - backendRefs: [{name: catalog, subset: v1}]\n")
	} else {
		fmt.Fprintf(&b, "  - backendRefs: [{name: catalog, subset: v1, weight: %d}, {name: catalog, subset: v2, weight: %d}]\n", 100-v2Weight, v2Weight)
	}
	return b.String()
}

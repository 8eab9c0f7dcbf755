//go:build !proxyonly

package cli

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
)

// demoStep is one step of the narrated scenario.
type demoStep struct {
	name   string  // one word: the step's row in the summary
	title  string  // what the step shows
	weight float64 // its share of --duration
	// act makes the step's change and says what it did; nil changes nothing.
	act func(ctx context.Context, d *demoRun) error
	// report says what the mesh did, from what the load generator saw
	// during the step (s) and the sidecars' metrics.
	report func(ctx context.Context, d *demoRun, s stepStats)
}

// demoScenario is the tour, in order.
func demoScenario() []demoStep {
	return []demoStep{
		{name: "baseline", title: "Baseline: every user on catalog v1", weight: 1,
			report: func(_ context.Context, d *demoRun, s stepStats) {
				d.say("Each page crossed the mesh three times: load generator -> frontend, frontend -> catalog,")
				d.say("frontend -> ratings; every call left through the caller's sidecar and arrived through the callee's.")
			}},
		{name: "canary", title: "Canary: 10 % of requests to catalog v2", weight: 2,
			act: func(ctx context.Context, d *demoRun) error {
				return d.applyRoute(ctx, "HTTPRoute catalog: v1 weight 90, v2 weight 10", 10, false)
			},
			report: func(_ context.Context, d *demoRun, s stepStats) {
				d.say("The mesh sent %s of the requests to v2 (asked: 10 %%); no app was restarted or told.", pct(shares(mergeCounts(s.regular, s.beta))["v2"], 1))
			}},
		{name: "beta", title: "Beta testers by header: x-user: beta-tester goes to v2", weight: 1.5,
			act: func(ctx context.Context, d *demoRun) error {
				return d.applyRoute(ctx, "HTTPRoute catalog: a first rule matching header x-user: beta-tester -> v2; everyone else 90:10", 10, true)
			},
			report: func(_ context.Context, d *demoRun, s stepStats) {
				d.say("Beta testers got v2 on %s of their pages; everyone else stayed on the 90:10 split.", pct(shares(s.beta)["v2"], 1))
				d.say("The frontend only passed the x-user header on; the route in the caller's sidecar did the rest.")
			}},
		{name: "failing", title: "A bad deploy: catalog-v2-b fails half its requests", weight: 2,
			act: func(ctx context.Context, d *demoRun) error {
				d.metricsBefore = d.resilienceMetrics(ctx)
				if err := os.WriteFile(failFile(d.dir, "catalog-v2-b"), []byte("0.5\n"), 0o644); err != nil {
					return err
				}
				d.say("catalog-v2-b now answers 503 to half of its requests at random; its health check still passes,")
				d.say("so only what its callers see can take it out. TrafficPolicy catalog (applied at the start):")
				d.say("retries {attempts: 2, retryOn: [5xx, ...]}, outlierDetection {consecutive5xx: 3}, round robin.")
				return nil
			},
			report: func(ctx context.Context, d *demoRun, s stepStats) {
				after := d.resilienceMetrics(ctx)
				d.say("The frontend's sidecar retried %d failed tries on another instance and ejected %d catalog endpoint(s)",
					after.retries-d.metricsBefore.retries, after.ejections-d.metricsBefore.ejections)
				d.say("(weft_proxy_retries_total, weft_proxy_outlier_ejections_total on http://%s/metrics).", d.frontendAdmin)
				verdict := "kept"
				if s.requests == 0 || 100*float64(s.ok)/float64(s.requests) < 99.9 {
					verdict = "missed"
				}
				d.say("Users saw %s success: the 99.9 %% target was %s.", pct(100*float64(s.ok)/float64(max(s.requests, 1)), 2), verdict)
			}},
		{name: "rollback", title: "Shift back: everyone to v1", weight: 1,
			act: func(ctx context.Context, d *demoRun) error {
				if err := d.applyRoute(ctx, "HTTPRoute catalog: all to v1, the beta rule removed", 0, false); err != nil {
					return err
				}
				d.say("catalog-v2-b is fixed too (an ejected instance rejoins when its 15s ejection ends).")
				return os.Remove(failFile(d.dir, "catalog-v2-b"))
			},
			report: func(_ context.Context, d *demoRun, s stepStats) {
				d.say("v1 served %s of all pages: one apply, and every sidecar switched at once.", pct(shares(mergeCounts(s.regular, s.beta))["v1"], 1))
			}},
	}
}

// demoScenarioAll is the tour with the security steps (demo_security.go)
// and the operator's view (demo_observe.go).
func demoScenarioAll() []demoStep {
	return append(append(demoScenario(), securitySteps()...), observeStep())
}

// mergeCounts adds the counts of a and b into a new map.
func mergeCounts(a, b map[string]int) map[string]int {
	out := cloneCounts(a)
	for k, v := range b {
		out[k] += v
	}
	return out
}

// stepLine is the measurement every step reports.
func stepLine(s stepStats) []string {
	r := summaryOf(&s)
	lines := []string{fmt.Sprintf("Measured over %.1fs: %d pages, %s success, p50 %s, p99 %s.",
		s.elapsed.Seconds(), s.requests, pct(r.success, 2), fmtLatency(r.p50), fmtLatency(r.p99))}
	var parts []string
	for _, g := range []struct {
		who   string
		split map[string]float64
	}{{"ordinary users", r.split}, {"beta testers", r.betaSplit}} {
		if len(g.split) == 0 {
			continue
		}
		vs := make([]string, 0, len(g.split))
		for v, p := range g.split {
			vs = append(vs, v+" "+pct(p, 1))
		}
		sort.Strings(vs)
		parts = append(parts, g.who+": "+strings.Join(vs, ", "))
	}
	if len(parts) > 0 {
		lines = append(lines, "catalog versions seen: "+strings.Join(parts, "; ")+".")
	}
	reasons := make([]string, 0, len(s.errors))
	for why := range s.errors {
		reasons = append(reasons, why)
	}
	sort.Strings(reasons)
	for _, why := range reasons {
		lines = append(lines, fmt.Sprintf("failed: %d x %s", s.errors[why], why))
	}
	return lines
}

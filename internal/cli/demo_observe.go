//go:build !proxyonly

package cli

import (
	"context"
	"strings"
)

// observeStep closes the tour with the operator's view of all it did:
// the control plane's golden signals per service version (what `weft
// stat` prints, from its own scrapes of every sidecar) and the dashboard
// that draws the same numbers.
func observeStep() demoStep {
	return demoStep{name: "observe", title: "The whole mesh at a glance: weft stat and the dashboard", weight: 1,
		act: func(ctx context.Context, d *demoRun) error {
			d.say("No Prometheus needed: the control plane scrapes every sidecar's /metrics itself.")
			return nil
		},
		report: func(ctx context.Context, d *demoRun, _ stepStats) {
			st, err := d.api.Stats(ctx)
			if err != nil {
				d.say("weft stat: %v", err)
				return
			}
			var b strings.Builder
			if err := printStat(&b, st); err != nil {
				d.say("weft stat: %v", err)
				return
			}
			d.say("weft stat:")
			for _, line := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
				d.say("  %s", line)
			}
			if d.dashboard != "" {
				d.say("The dashboard draws the same numbers as a live graph: %s", d.dashboard)
			}
		}}
}

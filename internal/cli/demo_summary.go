//go:build !proxyonly

package cli

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// maxLatencySamples bounds the latencies one step keeps (about 1.6 MB):
// past it, p50/p99 are those of the step's first samples.
const maxLatencySamples = 200_000

// stepStats is what the load generator saw during one step of the demo.
type stepStats struct {
	name      string
	elapsed   time.Duration
	requests  int
	ok        int
	regular   map[string]int  // successful requests of ordinary users, by catalog version
	beta      map[string]int  // successful requests of beta users, by catalog version
	latencies []time.Duration // every request's, capped at maxLatencySamples
	errors    map[string]int  // failed requests by reason
	// changes: the requests that ended while a step's change was being
	// applied, under either config; in the total, never in a step's row.
	changes bool
}

func newStepStats(name string) *stepStats {
	return &stepStats{name: name, regular: map[string]int{}, beta: map[string]int{}, errors: map[string]int{}}
}

// add counts one request: ok with the catalog version that served it, or
// failed with reason.
func (s *stepStats) add(ok bool, version string, beta bool, lat time.Duration, reason string) {
	s.requests++
	if len(s.latencies) < maxLatencySamples {
		s.latencies = append(s.latencies, lat)
	}
	if !ok {
		s.errors[reason]++
		return
	}
	s.ok++
	if beta {
		s.beta[version]++
	} else {
		s.regular[version]++
	}
}

// merge adds o's counts to s (the summary's total row).
func (s *stepStats) merge(o *stepStats) {
	s.elapsed += o.elapsed
	s.requests += o.requests
	s.ok += o.ok
	for k, v := range o.regular {
		s.regular[k] += v
	}
	for k, v := range o.beta {
		s.beta[k] += v
	}
	for k, v := range o.errors {
		s.errors[k] += v
	}
	if room := maxLatencySamples - len(s.latencies); room > 0 {
		s.latencies = append(s.latencies, o.latencies[:min(room, len(o.latencies))]...)
	}
}

// summaryRow is one line of the summary table.
type summaryRow struct {
	step     string
	requests int
	elapsed  time.Duration
	// success is the percentage of requests answered 200 with a page;
	// NaN with no requests.
	success float64
	// split is each catalog version's percentage of ordinary users'
	// successful requests; betaSplit the same for beta users.
	split, betaSplit map[string]float64
	p50, p99         time.Duration
}

// summarize turns each step's counts into a row, and all of them into a
// total row.
func summarize(steps []*stepStats) (rows []summaryRow, total summaryRow) {
	all := newStepStats("total")
	for _, s := range steps {
		if !s.changes {
			rows = append(rows, summaryOf(s))
		}
		all.merge(s)
	}
	return rows, summaryOf(all)
}

func summaryOf(s *stepStats) summaryRow {
	r := summaryRow{step: s.name, requests: s.requests, elapsed: s.elapsed, success: math.NaN(),
		split: shares(s.regular), betaSplit: shares(s.beta)}
	if s.requests > 0 {
		r.success = 100 * float64(s.ok) / float64(s.requests)
	}
	lat := slices.Clone(s.latencies)
	slices.Sort(lat)
	r.p50, r.p99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return r
}

// shares is each key's percentage of the counts' sum (empty when zero).
func shares(counts map[string]int) map[string]float64 {
	sum := 0
	for _, n := range counts {
		sum += n
	}
	out := map[string]float64{}
	for k, n := range counts {
		if sum > 0 {
			out[k] = 100 * float64(n) / float64(sum)
		}
	}
	return out
}

// percentile is the nearest-rank p-quantile of sorted (0 when empty).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// versionsSeen are the catalog versions that served any row, sorted.
func versionsSeen(rows ...summaryRow) []string {
	var vs []string
	for _, r := range rows {
		for _, m := range []map[string]float64{r.split, r.betaSplit} {
			for v := range m {
				if !slices.Contains(vs, v) {
					vs = append(vs, v)
				}
			}
		}
	}
	slices.Sort(vs)
	return vs
}

// renderSummary prints the table: one row per step and a total, each
// version's share of ordinary users' requests, and canary's share of beta
// users' (who are routed by header). The layout is what the e2e test reads.
func renderSummary(w io.Writer, rows []summaryRow, total summaryRow, canary string) {
	vs := versionsSeen(append(rows, total)...)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	head := append([]string{"step", "requests", "success"}, vs...)
	head = append(head, "beta:"+canary, "p50", "p99", "")
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range append(rows, total) {
		cols := []string{r.step, fmt.Sprint(r.requests), pct(r.success, 2)}
		for _, v := range vs {
			cols = append(cols, sharePct(r.split, v))
		}
		cols = append(cols, sharePct(r.betaSplit, canary), fmtLatency(r.p50), fmtLatency(r.p99), "")
		fmt.Fprintln(tw, strings.Join(cols, "\t"))
	}
	tw.Flush()
}

func sharePct(m map[string]float64, v string) string {
	if len(m) == 0 {
		return "-"
	}
	return pct(m[v], 1)
}

func pct(f float64, prec int) string {
	if math.IsNaN(f) {
		return "-"
	}
	return fmt.Sprintf("%.*f%%", prec, f)
}

func fmtLatency(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

//go:build !proxyonly

package cli

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/mesh"
)

func TestSummarize(t *testing.T) {
	canary := newStepStats("canary")
	for i := range 100 {
		lat := time.Duration(i+1) * time.Millisecond
		switch {
		case i < 2:
			canary.add(false, "", false, lat, "502 from frontend: catalog answered 503")
		case i < 20:
			canary.add(true, "v2", true, lat, "") // beta testers
		case i < 28:
			canary.add(true, "v2", false, lat, "")
		default:
			canary.add(true, "v1", false, lat, "")
		}
	}
	canary.elapsed = 4 * time.Second
	base := newStepStats("baseline")
	base.add(true, "v1", false, 500*time.Millisecond, "")
	base.elapsed = time.Second
	empty := newStepStats("empty")

	rows, total := summarize([]*stepStats{base, canary, empty})
	if len(rows) != 3 {
		t.Fatalf("rows: %d", len(rows))
	}
	c := rows[1]
	if c.requests != 100 || c.success != 98 {
		t.Errorf("canary: %d requests, %v%% success", c.requests, c.success)
	}
	// 8 of the 80 ordinary users' pages came from v2; beta testers' all.
	if c.split["v2"] != 10 || c.split["v1"] != 90 || c.betaSplit["v2"] != 100 {
		t.Errorf("canary split %v, beta %v", c.split, c.betaSplit)
	}
	if c.p50 != 50*time.Millisecond || c.p99 != 99*time.Millisecond {
		t.Errorf("canary p50 %v p99 %v", c.p50, c.p99)
	}
	if e := rows[2]; !math.IsNaN(e.success) || len(e.split) != 0 || e.p50 != 0 {
		t.Errorf("empty step: %+v", e)
	}
	if total.requests != 101 || total.elapsed != 5*time.Second || total.split["v1"] != 100*73.0/81 {
		t.Errorf("total: %+v", total)
	}
	if total.p99 != 100*time.Millisecond || total.p50 != 51*time.Millisecond {
		t.Errorf("total p50 %v p99 %v", total.p50, total.p99)
	}
	if got := versionsSeen(total); strings.Join(got, ",") != "v1,v2" {
		t.Errorf("versions seen %v", got)
	}

	var b strings.Builder
	renderSummary(&b, rows, total, "v2")
	want := `      step  requests  success      v1     v2  beta:v2      p50      p99
  baseline         1  100.00%  100.0%   0.0%        -  500.0ms  500.0ms
    canary       100   98.00%   90.0%  10.0%   100.0%   50.0ms   99.0ms
     empty         0        -       -      -        -        -        -
     total       101   98.02%   90.1%   9.9%   100.0%   51.0ms  100.0ms
`
	if got := trimLines(b.String()); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func trimLines(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	return strings.Join(lines, "\n")
}

func TestPercentile(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		out := make([]time.Duration, len(ns))
		for i, n := range ns {
			out[i] = time.Duration(n) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{nil, 0.5, 0},
		{ms(7), 0.99, 7 * time.Millisecond},
		{ms(1, 2), 0.5, time.Millisecond},
		{ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{ms(1, 2, 3, 4), 0.99, 4 * time.Millisecond},
		{ms(1, 2, 3, 4), 0, time.Millisecond},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
		}
	}
}

// A step keeps at most maxLatencySamples latencies, and so does the total.
func TestStepStatsLatencyCap(t *testing.T) {
	a, b := newStepStats("a"), newStepStats("b")
	for range maxLatencySamples + 10 {
		a.add(true, "v1", false, time.Millisecond, "")
	}
	b.add(true, "v1", false, time.Second, "")
	if len(a.latencies) != maxLatencySamples || a.requests != maxLatencySamples+10 {
		t.Fatalf("kept %d latencies of %d requests", len(a.latencies), a.requests)
	}
	_, total := summarize([]*stepStats{a, b})
	if total.requests != maxLatencySamples+11 || total.p99 != time.Millisecond {
		t.Errorf("total %d requests, p99 %v", total.requests, total.p99)
	}
}

// The shop's config, as applied at each step, passes the mesh's validation.
func TestShopYAMLValid(t *testing.T) {
	for name, y := range map[string]string{
		"shop": shopYAML(), "canary": catalogRouteYAML(10, false), "beta": catalogRouteYAML(10, true), "back": catalogRouteYAML(0, false),
	} {
		docs, err := yamlDocs(name+".yaml", []byte(y))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		b, err := body(docs)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		rs, err := mesh.Decode(b)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, r := range rs {
			if v, ok := r.(interface{ Validate() error }); ok {
				if err := v.Validate(); err != nil {
					t.Errorf("%s: %v", name, err)
				}
			}
		}
	}
	if y := catalogRouteYAML(10, true); !strings.Contains(y, "value: beta-tester") || !strings.Contains(y, "weight: 90") {
		t.Errorf("beta route:\n%s", y)
	}
}

// A missing python3 or node is replaced by the Go stand-in, with a note;
// a present one runs the embedded script, written out.
func TestShopInstancesSubstitute(t *testing.T) {
	dir := t.TempDir()
	noNode := func(name string) (string, error) {
		if name == "node" {
			return "", errors.New("not found")
		}
		return "/usr/bin/" + name, nil
	}
	ins, err := shopInstances("/bin/weft", dir, noNode)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]demoInstance{}
	for _, in := range ins {
		byID[in.id] = in
	}
	if len(ins) != 5 || len(byID) != 5 {
		t.Fatalf("instances %v", ins)
	}
	fe, ra := byID["frontend-1"], byID["ratings-1"]
	if fe.lang != "Python" || fe.argv[0] != "/usr/bin/python3" || fe.note != "" {
		t.Errorf("frontend %+v", fe)
	}
	if b, err := os.ReadFile(fe.argv[1]); err != nil || !strings.Contains(string(b), "ThreadingHTTPServer") {
		t.Errorf("frontend.py not written: %v", err)
	}
	if ra.lang != "Go" || strings.Join(ra.argv, " ") != "/bin/weft demo-app ratings" || !strings.Contains(ra.note, "node is not installed") {
		t.Errorf("ratings %+v", ra)
	}
	if _, err := os.Stat(filepath.Join(dir, "ratings.js")); err == nil {
		t.Errorf("ratings.js written though node is missing")
	}
	args := strings.Join(byID["catalog-v2-b"].runArgs("/bin/weft", "127.0.0.1:1", "127.0.0.1:2", "/d/operator.token", "/d/ca.pem", false), " ")
	if !strings.Contains(args, "run --service catalog --id catalog-v2-b --control 127.0.0.1:1 --xds 127.0.0.1:2") ||
		!strings.Contains(args, "--token-file /d/operator.token --ca-file /d/ca.pem") ||
		!strings.HasSuffix(args, "--version v2 -- /bin/weft demo-app catalog --version v2 --fail-file "+failFile(dir, "catalog-v2-b")) {
		t.Errorf("weft run args: %s", args)
	}
}

func TestSumCounter(t *testing.T) {
	text := `# HELP weft_proxy_retries_total Retries sent.
weft_proxy_retries_total{cluster="catalog.default/v2",reason="status"} 7
weft_proxy_retries_total{cluster="catalog.default/v1",reason="reset"} 2
weft_proxy_retries_total{cluster="ratings.default",reason="status"} 100
weft_proxy_retries_total_other{cluster="catalog.default/v2"} 50
`
	if got := sumCounter(text, "weft_proxy_retries_total", `cluster="catalog`); got != 9 {
		t.Errorf("sum %d, want 9", got)
	}
}

func TestParseDemo(t *testing.T) {
	var errs strings.Builder
	o, err := parseDemo([]string{"--auto", "--duration", "20s"}, &errs)
	if err != nil || !o.auto || o.duration != 20*time.Second || o.rate != 50 {
		t.Fatalf("%+v %v", o, err)
	}
	_, err = parseDemo([]string{"--duration", "1s", "--rate", "0", "extra"}, &errs)
	for _, want := range []string{"--duration: must be 5s..1h; got 1s", "--rate: must be 1..1000; got 0", `unexpected argument "extra"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

// The demo offers commands against the mesh only when the mesh is still
// running after the tour.
func TestDemoClosingLines(t *testing.T) {
	if s := closingLines(false, demoHints{}); strings.Contains(s, "--server") || strings.Contains(s, "curl") || !strings.Contains(s, "weft demo --serve") {
		t.Errorf("without --serve: %q", s)
	}
	s := closingLines(true, demoHints{api: "127.0.0.1:1", loadProxy: "127.0.0.1:2", frontendAdmin: "127.0.0.1:3", dir: "/tmp/d",
		tokenFile: "/tmp/d/operator.token", caFile: "/tmp/d/ca.pem"})
	if !strings.Contains(s, "export WEFT_TOKEN_FILE=/tmp/d/operator.token WEFT_CA_FILE=/tmp/d/ca.pem") {
		t.Errorf("closing lines do not give the CLI its credentials:\n%s", s)
	}
	for _, want := range []string{"weft get routes --server 127.0.0.1:1", "weft apply --server 127.0.0.1:1 -f /tmp/d/catalog-route.yaml",
		"curl -x http://127.0.0.1:2 http://frontend/products/1", "curl http://127.0.0.1:3/metrics"} {
		if !strings.Contains(s, want) {
			t.Errorf("with --serve, lacks %q: %q", want, s)
		}
	}
}

func TestTailWriter(t *testing.T) {
	var shown strings.Builder
	w := &tailWriter{max: 8, prefix: "[x] ", w: &shown}
	w.Write([]byte("hello\nwor"))
	w.Write([]byte("ld\n"))
	if got := w.String(); got != "o\nworld\n" {
		t.Errorf("tail %q", got)
	}
	if shown.String() != "[x] hello\n[x] world\n" {
		t.Errorf("shown %q", shown.String())
	}
}

// The load generator counts each page in the step it ended in, by the
// catalog version named in the page, and beta testers apart; a page
// without one, or an error status, is a failure with its reason.
func TestLoadGen(t *testing.T) {
	var n atomic.Int64
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != "frontend" || !strings.HasPrefix(r.URL.Path, "/products/") {
			http.Error(w, "unexpected "+r.URL.String(), http.StatusBadRequest)
			return
		}
		switch {
		case r.Header.Get(betaHeader) == betaUser:
			io.WriteString(w, `{"catalog": {"version": "v2"}}`)
		case n.Add(1)%10 == 0:
			w.Header().Set("x-weft-response-flags", "UH")
			w.WriteHeader(http.StatusServiceUnavailable)
		default:
			io.WriteString(w, `{"catalog": {"version": "v1"}}`)
		}
	}))
	defer proxy.Close()
	stats := &loadStats{}
	stats.begin("one")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		newLoadGen(strings.TrimPrefix(proxy.URL, "http://"), 200, stats).run(ctx)
	}()
	if err := waitFor(ctx, 10*time.Second, "100 requests", func() bool { return stats.current().requests >= 100 }); err != nil {
		t.Fatal(err)
	}
	stats.begin("two")
	if err := waitFor(ctx, 10*time.Second, "10 requests", func() bool { return stats.current().requests >= 10 }); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	stats.end()
	steps := stats.all()
	if len(steps) != 2 || steps[0].name != "one" || steps[1].name != "two" {
		t.Fatalf("steps %v", steps)
	}
	s := steps[0]
	if s.beta["v2"] == 0 || s.beta["v1"] != 0 || s.regular["v1"] == 0 || s.regular["v2"] != 0 {
		t.Errorf("beta %v regular %v", s.beta, s.regular)
	}
	if s.errors["503 from the mesh (UH)"] == 0 || s.ok+s.errors["503 from the mesh (UH)"] != s.requests || s.elapsed <= 0 {
		t.Errorf("%d requests, %d ok, errors %v, elapsed %v", s.requests, s.ok, s.errors, s.elapsed)
	}
}

// Requests that overlap a change being applied are in the total but in no
// step's row: the baseline row stays all v1 even if the canary's first
// pages end before every sidecar has ACKed it.
func TestLoadStatsChanges(t *testing.T) {
	l := &loadStats{}
	l.changing()
	l.add(true, "v1", false, 0, "")
	l.begin("baseline")
	l.add(true, "v1", false, 0, "")
	l.changing()
	l.add(true, "v2", false, 0, "")
	l.begin("canary")
	l.add(true, "v2", false, 0, "")
	l.add(false, "", false, 0, "UH")
	l.add(true, "v1", false, time.Hour, "") // began before the canary: with the changes
	l.changing()
	l.add(true, "v1", false, 0, "")
	l.end()
	rows, total := summarize(l.all())
	if len(rows) != 2 || rows[0].step != "baseline" || rows[1].step != "canary" {
		t.Fatalf("rows %+v, want baseline and canary only", rows)
	}
	if got := rows[0].split["v1"]; got != 100 {
		t.Errorf("baseline v1 %.1f%%, want 100", got)
	}
	if rows[1].requests != 2 || total.requests != 7 {
		t.Errorf("canary %d requests, total %d; want 2 and 7", rows[1].requests, total.requests)
	}
}

package e2e

import (
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// promMesh: catalog (v1 and v2, 50/50, 5 % of requests aborted with 503
// by fault injection at the caller's sidecar), flaky (always 503, retried
// and ejected) and store (TCP), all called by frontend.
const promMesh = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - filters: [{type: Fault, fault: {abort: {httpStatus: 503, percent: 5}}}]
    backendRefs:
    - {name: catalog, subset: v1, weight: 50}
    - {name: catalog, subset: v2, weight: 50}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: flaky}
spec: {ports: [{port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: flaky}
spec:
  targetRef: {name: flaky}
  retries: {attempts: 2, retryOn: [5xx]}
  outlierDetection: {consecutive5xx: 3, interval: 1s, baseEjectionTime: 2s}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: store}
spec: {ports: [{port: 80, protocol: tcp}]}
`

// versionApp answers 200 with X-Served-By, but 500 on /fail; status
// answers every request with code (the flaky service).
func versionApp(t *testing.T, version string, status int) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("X-Served-By", version)
		switch {
		case r.URL.Path == "/": // the registration probe
		case status != 0:
			w.WriteHeader(status)
		case r.URL.Path == "/fail":
			w.WriteHeader(http.StatusInternalServerError)
		}
		io.WriteString(w, "ok\n")
	}), ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// clientTally is the load client's own count of what it sent and got.
type clientTally struct {
	mu                 sync.Mutex
	total, ok, aborted int
	byVersion          map[string]int // answers the app gave, by version
	okByVersion        map[string]int
	done               []time.Time // when each request completed
	errs               int
}

func (c *clientTally) send(client *http.Client, path string) {
	resp, err := client.Get("http://catalog" + path)
	if err != nil {
		c.mu.Lock()
		c.errs++
		c.mu.Unlock()
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total++
	c.done = append(c.done, now)
	v := resp.Header.Get("X-Served-By")
	switch {
	case resp.StatusCode == 503 && resp.Header.Get("X-Weft-Response-Flags") == "FI":
		c.aborted++
	case v != "":
		c.byVersion[v]++
		if resp.StatusCode < 500 {
			c.ok++
			c.okByVersion[v]++
		}
	default:
		c.errs++ // neither the app nor the fault filter answered
	}
}

// between counts the requests that completed in (from, to].
func (c *clientTally) between(from, to time.Time) int {
	n := 0
	for _, d := range c.done {
		if d.After(from) && !d.After(to) {
			n++
		}
	}
	return n
}

// TestPrometheusAgreesWithTheClient runs Debian's prometheus against a
// live mesh (control plane, four sidecars) and checks with PromQL that
// requests, success rate and request rate per edge, from both reporters,
// agree with the load client's own counts within 2 %; then runs every
// query of the shipped Grafana dashboard and requires data from each.
func TestPrometheusAgreesWithTheClient(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if out, ok := weft(t, c.api, promMesh, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s], cacheDir: %s}\n", c.xds, c.api, t.TempDir())
	admins := map[string]string{}
	callee := func(name, service, version, app, proto string) {
		admin := freePort(t)
		admins[name] = admin
		startSidecar(t, name, admin, fmt.Sprintf(`node: %s
service: %s
admin: %s
inbound: [{name: in, listen: %s, app: %s, protocol: %s}]
register: {labels: {version: %s}, probe: {interval: 200ms}}
limits: {drainTimeout: 1s}
`, name, service, admin, freePort(t), app, proto, version)+cpYAML)
	}
	callee("catalog-v1", "catalog", "v1", versionApp(t, "v1", 0), "http")
	callee("catalog-v2", "catalog", "v2", versionApp(t, "v2", 0), "http")
	callee("flaky-v1", "flaky", "v1", versionApp(t, "v1", http.StatusServiceUnavailable), "http")
	callee("store-v1", "store", "v1", tcpEcho(t), "tcp")
	frontAdmin, proxyAddr, storePort := freePort(t), freePort(t), freePort(t)
	admins["frontend"] = frontAdmin
	startSidecar(t, "frontend", frontAdmin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
outbound: {proxy: %s, ports: [{listen: %s, service: store}]}
limits: {drainTimeout: 1s}
`, frontAdmin, proxyAddr, storePort)+cpYAML)
	prom := startPrometheus(t, admins)

	pu, _ := url.Parse("http://" + proxyAddr)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 8}}
	t.Cleanup(client.CloseIdleConnections)

	// Warm-up: both catalog versions answer, flaky is retried and ejected,
	// a TCP stream goes through store, and Prometheus scrapes all five.
	warm := &clientTally{byVersion: map[string]int{}, okByVersion: map[string]int{}}
	eventually(t, 60*time.Second, "both catalog versions answer through the frontend's sidecar", func() bool {
		for range 10 {
			warm.send(client, "/items")
			warm.send(client, "/fail")
		}
		warm.mu.Lock()
		defer warm.mu.Unlock()
		return warm.okByVersion["v1"] > 0 && warm.okByVersion["v2"] > 0 && warm.byVersion["v1"] > warm.okByVersion["v1"] && warm.byVersion["v2"] > warm.okByVersion["v2"]
	})
	eventually(t, 30*time.Second, "flaky retried and ejected at the frontend", func() bool {
		if resp, err := client.Get("http://flaky/x"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		mfs := scrapeMetrics(t, frontAdmin)
		return sumWhere(mfs, "weft_proxy_retries_total", map[string]string{"cluster": "flaky.default"}) > 0 &&
			sumWhere(mfs, "weft_proxy_outlier_ejections_total", map[string]string{"cluster": "flaky.default"}) > 0
	})
	eventually(t, 30*time.Second, "a TCP stream through store", func() bool {
		tc, err := net.DialTimeout("tcp", storePort, 2*time.Second)
		if err != nil {
			return false
		}
		defer tc.Close()
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		msg := strings.Repeat("t", 100)
		io.WriteString(tc, msg)
		tc.(*net.TCPConn).CloseWrite()
		got, _ := io.ReadAll(tc)
		return string(got) == msg
	})
	eventually(t, 30*time.Second, "prometheus scraping every sidecar", func() bool {
		r, err := prom.query(`up{job="weft"} == 1`, time.Now())
		return err == nil && len(r.Result) == len(admins)
	})
	// The baseline: a moment whose latest scrapes all began after the
	// warm-up's last request was recorded (sidecars record a request after
	// its response, so allow them a little time).
	prom.scrapedPast(t, time.Now().Add(300*time.Millisecond), len(admins))
	before := time.Now()

	// The load: 4 workers for 10 s, every tenth request to /fail.
	const workers, loadFor = 4, 10 * time.Second
	tally := &clientTally{byVersion: map[string]int{}, okByVersion: map[string]int{}}
	loadStart := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; time.Since(loadStart) < loadFor; i += workers {
				path := "/items"
				if i%10 == 0 {
					path = "/fail"
				}
				tally.send(client, path)
			}
		}()
	}
	wg.Wait()
	loadEnd := time.Now()
	t.Logf("client: %d requests in %v (%d answered by the app: %v, %d ok; %d aborted by fault injection; %d errors)",
		tally.total, loadEnd.Sub(loadStart).Round(time.Millisecond), tally.total-tally.aborted, tally.byVersion, tally.ok, tally.aborted, tally.errs)
	if tally.errs > 0 || tally.total < 200 {
		t.Fatalf("the load itself went wrong: %d errors, %d requests", tally.errs, tally.total)
	}
	prom.scrapedPast(t, time.Now().Add(300*time.Millisecond), len(admins))
	after := time.Now()

	// Counts over the load: each selector's sum at after minus at before,
	// in one PromQL expression (a series born during the load counts from 0).
	offset := fmt.Sprintf("%dms", after.Sub(before).Milliseconds())
	delta := func(sel string) float64 {
		t.Helper()
		return prom.scalar(t, fmt.Sprintf("sum(%s) - (sum(%s offset %s) or vector(0))", sel, sel, offset), after)
	}
	edge := `source_workload="frontend", destination_service="catalog.default"`
	within := func(what string, got, want float64) {
		t.Helper()
		if want == 0 {
			t.Fatalf("%s: the client expects 0", what)
		}
		diff := math.Abs(got-want) / want
		t.Logf("%s: prometheus %.4g, client %.4g (%.2f %% off)", what, got, want, 100*diff)
		if diff > 0.02 {
			t.Errorf("%s: prometheus %.4g, client %.4g: %.1f %% off, want <= 2 %%", what, got, want, 100*diff)
		}
	}
	answered := float64(tally.total - tally.aborted)
	for _, rep := range []struct {
		reporter       string
		requests, okay float64
	}{
		// The caller's sidecar sees every request, aborted ones included;
		// the callee's sees only those the fault filter let through.
		{"source", float64(tally.total), float64(tally.ok)},
		{"destination", answered, float64(tally.ok)},
	} {
		all := fmt.Sprintf(`weft_requests_total{reporter=%q, %s}`, rep.reporter, edge)
		okSel := fmt.Sprintf(`weft_requests_total{reporter=%q, response_code!~"5..", %s}`, rep.reporter, edge)
		within("frontend -> catalog requests, reporter="+rep.reporter, delta(all), rep.requests)
		rate := prom.scalar(t, fmt.Sprintf("(sum(%s) - (sum(%s offset %s) or vector(0))) / (sum(%s) - (sum(%s offset %s) or vector(0)))",
			okSel, okSel, offset, all, all, offset), after)
		within("frontend -> catalog success rate, reporter="+rep.reporter, rate, rep.okay/rep.requests)
	}
	for _, v := range []string{"v1", "v2"} {
		within("catalog "+v+" requests, reporter=destination",
			delta(fmt.Sprintf(`weft_requests_total{reporter="destination", destination_version=%q, %s}`, v, edge)), float64(tally.byVersion[v]))
	}
	within("frontend -> catalog fault-injected aborts (response_flags=FI), reporter=source",
		delta(fmt.Sprintf(`weft_requests_total{reporter="source", response_flags="FI", %s}`, edge)), float64(tally.aborted))

	// Request rate: rate() over 6 s inside the load, against what the
	// client completed between the first and last samples in that window
	// (rate() extrapolates their increase over the window: with samples
	// every second, that is their increase over their own span).
	rateAt := loadEnd.Add(-1500 * time.Millisecond)
	sel := fmt.Sprintf(`weft_requests_total{reporter="source", %s}`, edge)
	promRate := prom.scalar(t, fmt.Sprintf("sum(rate(%s[6s]))", sel), rateAt)
	raw, err := prom.query(sel+"[6s]", rateAt)
	if err != nil || raw.ResultType != "matrix" || len(raw.Result) == 0 || len(raw.Result[0].Values) < 4 {
		t.Fatalf("raw samples of %s[6s]: %v %+v", sel, err, raw)
	}
	vals := raw.Result[0].Values
	ts := func(v [2]any) time.Time { f, _ := v[0].(float64); return time.Unix(0, int64(f*1e9)) }
	first, last := ts(vals[0]), ts(vals[len(vals)-1])
	clientRate := float64(tally.between(first, last)) / last.Sub(first).Seconds()
	within(fmt.Sprintf("frontend -> catalog request rate (rate over 6 s, %d samples)", len(vals)), promRate, clientRate)

	checkDashboard(t, prom, after)
}

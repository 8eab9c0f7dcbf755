package e2e

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// flakyApp is a catalog app in the test process. A bad one answers 503 to
// half its requests, at random (a strict alternation would never give two
// 5xx in a row, so no consecutive-5xx check could see it). The probe path
// always answers 200, so only the frontend's outlier detection, not the
// registration probe, can take the instance out.
type flakyApp struct {
	addr     string
	bad      atomic.Bool  // set when the load starts
	served   atomic.Int64 // requests other than probes
	failed   atomic.Int64 // 503s sent
	lastSeen atomic.Int64 // UnixNano of the latest request other than a probe
}

func startFlakyApp(t *testing.T, name string) *flakyApp {
	t.Helper()
	a := &flakyApp{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a.addr = ln.Addr().String()
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return
		}
		a.served.Add(1)
		a.lastSeen.Store(time.Now().UnixNano())
		if a.bad.Load() && rand.N(2) == 0 {
			a.failed.Add(1)
			http.Error(w, "overloaded", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintf(w, "%s\n", name)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return a
}

// TestBadInstanceEjectedUnderLoad: three catalog instances at a steady
// 300 requests/s for 10 s; one app answers 503 to half its requests. The
// frontend's sidecar retries the 503s on another instance and its
// outlier detection (consecutive5xx: 3) ejects the bad instance, so the
// client sees at most 0.1 % errors and the bad app stops getting
// requests within 10 s of the load starting (issue 9).
func TestBadInstanceEjectedUnderLoad(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s], cacheDir: %s}\n", c.xds, c.api, t.TempDir())
	apps := map[string]*flakyApp{}
	for _, n := range []string{"a", "b", "bad"} {
		apps[n] = startFlakyApp(t, n)
		admin, listen := freePort(t), freePort(t)
		startSidecar(t, "catalog-"+n, admin, fmt.Sprintf(`node: catalog-%s
service: catalog
admin: %s
inbound: [{name: http, listen: %s, app: %s}]
register: {labels: {instance: %s}, probe: {httpPath: /healthz, interval: 200ms}}
limits: {drainTimeout: 5s}
`, n, admin, listen, apps[n].addr, n)+cpYAML)
	}
	admin, proxyAddr := freePort(t), freePort(t)
	startSidecar(t, "frontend", admin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
outbound: {proxy: %s}
limits: {drainTimeout: 5s}
`, admin, proxyAddr)+cpYAML)
	pu, _ := url.Parse("http://" + proxyAddr)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 16}}
	t.Cleanup(client.CloseIdleConnections)

	policy := `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: catalog}
spec:
  targetRef: {name: catalog}
  loadBalancer: {type: ROUND_ROBIN}
  retries: {attempts: 2, retryOn: [5xx, connect-failure, reset]}
  outlierDetection: {consecutive5xx: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
`
	if out, ok := weft(t, c.api, policy, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	// All three instances serve before the load starts, so the load
	// measures ejection, not registration; the bad app turns bad only
	// when the load starts, so nothing is ejected before.
	eventually(t, 20*time.Second, "all three instances serve", func() bool {
		send(client)
		return apps["a"].served.Load() > 0 && apps["b"].served.Load() > 0 && apps["bad"].served.Load() > 0
	})
	for _, a := range apps {
		a.served.Store(0)
		a.failed.Store(0)
	}

	const (
		rate     = 300 // requests per second, all workers together
		workers  = 10
		duration = 10 * time.Second
		quiet    = 3 * time.Second // the bad app must get nothing in the load's last quiet
	)
	var okN, failN atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	bad := apps["bad"]
	bad.bad.Store(true)
	begin := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * workers / rate)
			defer tick.Stop()
			for range tick.C {
				if time.Since(begin) > duration {
					return
				}
				if err := send(client); err != nil {
					failN.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	end := time.Now()
	total := okN.Load() + failN.Load()
	lastBad := time.Unix(0, bad.lastSeen.Load()).Sub(begin)
	t.Logf("%d requests in %v (%.0f/s): %d failed (%.3f %%); first error: %v",
		total, end.Sub(begin).Round(time.Millisecond), float64(total)/end.Sub(begin).Seconds(),
		failN.Load(), 100*float64(failN.Load())/float64(total), firstErr.Load())
	t.Logf("apps served a=%d b=%d bad=%d (bad sent %d × 503); bad app's last request %v after the load began",
		apps["a"].served.Load(), apps["b"].served.Load(), bad.served.Load(), bad.failed.Load(), lastBad.Round(time.Millisecond))
	if total < rate*int64(duration/time.Second)/2 {
		t.Fatalf("only %d requests sent; the load did not run", total)
	}
	if bad.failed.Load() == 0 {
		t.Fatalf("the bad app got %d requests and failed none during the load; the test measured nothing", bad.served.Load())
	}
	if failN.Load()*1000 > total {
		t.Fatalf("%d of %d requests failed, want at most 0.1 %%", failN.Load(), total)
	}
	if lastBad > 10*time.Second || end.Sub(begin)-lastBad < quiet {
		t.Fatalf("the bad app got a request %v after the load began (load ran %v); want it ejected within 10 s and idle for the last %v",
			lastBad.Round(time.Millisecond), end.Sub(begin).Round(time.Millisecond), quiet)
	}
}

// send makes one request to catalog through the frontend's sidecar; any
// answer but 200 is an error.
func send(c *http.Client) error {
	resp, err := c.Get("http://catalog/items")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return nil
}

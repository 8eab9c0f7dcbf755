package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// zonedMesh is a control plane, catalog instances (an in-process app
// behind its own sidecar process each) and a frontend sidecar.
type zonedMesh struct {
	apps     map[string]*ctlApp
	sidecars map[string]*proc
	front    string // the frontend sidecar's admin address
	api      string // the control plane's API address
	client   *http.Client
}

// startZonedMesh starts one catalog instance per entry of zones (instance
// name -> zone, "" for none) and a frontend in frontZone ("" for none),
// applies the catalog Service with policy (more YAML documents, may be
// empty), and waits until the frontend has every instance.
func startZonedMesh(t *testing.T, zones map[string]string, frontZone, policy string) *zonedMesh {
	t.Helper()
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s], cacheDir: %s}\n", c.xds, c.api, t.TempDir())
	locality := func(zone string) string {
		if zone == "" {
			return ""
		}
		return fmt.Sprintf("locality: {region: r1, zone: %s}\n", zone)
	}
	m := &zonedMesh{apps: map[string]*ctlApp{}, sidecars: map[string]*proc{}, api: c.api}
	for n, zone := range zones {
		m.apps[n] = startCtlApp(t, n)
		admin, listen := freePort(t), freePort(t)
		m.sidecars[n], _ = startSidecar(t, "catalog-"+n, admin, fmt.Sprintf(`node: catalog-%s
service: catalog
admin: %s
inbound: [{name: http, listen: %s, app: %s}]
register: {labels: {instance: %s}, probe: {httpPath: /healthz, interval: 200ms}}
limits: {drainTimeout: 5s}
`, n, admin, listen, m.apps[n].addr, n)+locality(zone)+cpYAML)
	}
	m.front = freePort(t)
	proxyAddr := freePort(t)
	startSidecar(t, "frontend", m.front, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
outbound: {proxy: %s}
limits: {drainTimeout: 5s}
`, m.front, proxyAddr)+locality(frontZone)+cpYAML)
	pu, _ := url.Parse("http://" + proxyAddr)
	m.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 32}}
	t.Cleanup(m.client.CloseIdleConnections)
	svc := "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec:\n  ports: [{port: 80}]\n" + policy
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	eventually(t, 20*time.Second, "every catalog instance in the frontend's endpoints", func() bool {
		return len(frontendEndpoints(m.front)) == len(zones)
	})
	return m
}

// dumpedEndpoint is one catalog endpoint as the frontend's /config shows it.
type dumpedEndpoint struct {
	Address string `json:"address"`
	Zone    string `json:"zone"`
	Region  string `json:"region"`
	Tier    string `json:"tier"`
}

// frontendEndpoints reads the catalog endpoints from the admin's /config
// (nil when unreadable).
func frontendEndpoints(admin string) []dumpedEndpoint {
	resp, err := http.Get("http://" + admin + "/config")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var d struct {
		Clusters []struct {
			Name      string           `json:"name"`
			Endpoints []dumpedEndpoint `json:"endpoints"`
		} `json:"clusters"`
	}
	if json.NewDecoder(resp.Body).Decode(&d) != nil {
		return nil
	}
	var out []dumpedEndpoint
	for _, c := range d.Clusters {
		if strings.HasPrefix(c.Name, "catalog") {
			out = append(out, c.Endpoints...)
		}
	}
	return out
}

// ejectPolicy ejects a catalog instance after three failures in a row.
const ejectPolicy = `---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: catalog}
spec:
  targetRef: {name: catalog}
  outlierDetection: {consecutive5xx: 3, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 50}
`

// loadResult counts a steady load's outcomes.
type loadResult struct {
	ok, failed int64
	first      error
	elapsed    time.Duration
}

func (r loadResult) total() int64 { return r.ok + r.failed }

// steadyLoad sends rate requests/s (20 paced workers, so a slow answer
// delays one worker's share only) for d, or n requests when n > 0.
func steadyLoad(c *http.Client, rate int, d time.Duration, n int64) loadResult {
	const workers = 20
	var okN, failN, sent atomic.Int64
	var first atomic.Value
	var wg sync.WaitGroup
	begin := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * workers / time.Duration(rate))
			defer tick.Stop()
			for range tick.C {
				if time.Since(begin) > d || (n > 0 && sent.Add(1) > n) {
					return
				}
				if err := send(c); err != nil {
					failN.Add(1)
					first.CompareAndSwap(nil, err)
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	r := loadResult{ok: okN.Load(), failed: failN.Load(), elapsed: time.Since(begin)}
	if e, ok := first.Load().(error); ok {
		r.first = e
	}
	return r
}

// TestLocalityPrefersZoneAndFailsOver: three catalog instances, one in the
// frontend's zone a and two in zone b. With everything healthy at least
// 99 % of requests stay in zone a; once zone a's instance is SIGKILLed
// (its sidecar) under 300 req/s, traffic moves to zone b with at most
// 0.1 % client errors. Outlier detection is what sees zone a fail before
// the control plane drops the instance (Istio requires it for locality
// failover for the same reason); the default retry moves the few
// requests that meet the dead instance first.
func TestLocalityPrefersZoneAndFailsOver(t *testing.T) {
	m := startZonedMesh(t, map[string]string{"a1": "a", "b1": "b", "b2": "b"}, "a", ejectPolicy)
	for _, ep := range frontendEndpoints(m.front) {
		want := map[string]string{"a": "zone", "b": "region"}[ep.Zone]
		if ep.Tier != want || ep.Region != "r1" {
			t.Fatalf("/config shows endpoint %+v; want region r1 and tier %q", ep, want)
		}
	}
	for _, a := range m.apps {
		a.served.Store(0)
	}
	r := steadyLoad(m.client, 300, 30*time.Second, 1000)
	inZone := m.apps["a1"].served.Load()
	t.Logf("all healthy: %d requests in %v, %d failed; zone a served %d, zone b %d+%d",
		r.total(), r.elapsed.Round(time.Millisecond), r.failed, inZone, m.apps["b1"].served.Load(), m.apps["b2"].served.Load())
	if r.failed > 0 || r.total() < 1000 {
		t.Fatalf("%d of %d requests failed (first: %v)", r.failed, r.total(), r.first)
	}
	if inZone*100 < r.total()*99 {
		t.Fatalf("zone a served %d of %d requests, want at least 99 %%", inZone, r.total())
	}

	for _, a := range m.apps {
		a.served.Store(0)
	}
	done := make(chan loadResult)
	go func() { done <- steadyLoad(m.client, 300, 6*time.Second, 0) }()
	eventually(t, 5*time.Second, "load flowing to zone a", func() bool { return m.apps["a1"].served.Load() >= 100 })
	m.sidecars["a1"].cmd.Process.Kill()
	killed := time.Now()
	eventually(t, 5*time.Second, "the frontend dropping zone a's instance", func() bool {
		eps := frontendEndpoints(m.front)
		return len(eps) == 2 && eps[0].Zone == "b" && eps[1].Zone == "b"
	})
	removed := time.Since(killed)
	r = <-done
	zoneB := m.apps["b1"].served.Load() + m.apps["b2"].served.Load()
	t.Logf("zone a's sidecar SIGKILLed under 300 req/s: removed after %v; %d requests in %v, %d failed (%.3f %%; first: %v); zone a served %d, zone b %d",
		removed.Round(time.Millisecond), r.total(), r.elapsed.Round(time.Millisecond), r.failed,
		100*float64(r.failed)/float64(max(r.total(), 1)), r.first, m.apps["a1"].served.Load(), zoneB)
	if r.total() < 900 { // half the nominal 1800: a loaded machine paces slower
		t.Fatalf("only %d requests sent; the load did not run", r.total())
	}
	if r.failed*1000 > r.total() {
		t.Fatalf("%d of %d requests failed, want at most 0.1 %%", r.failed, r.total())
	}
	if zoneB < r.total()/2 {
		t.Fatalf("zone b served %d of %d requests after the kill; traffic did not move", zoneB, r.total())
	}
}

// TestCalleeSidecarKilledUnderLoad (issue 9): three catalog instances
// with no locality and no policy at all; one instance's sidecar is
// SIGKILLed under 300 req/s. The frontend's balancer moves off the
// failing instance and the default retry moves the requests that meet
// it, so clients see at most 0.1 % errors.
func TestCalleeSidecarKilledUnderLoad(t *testing.T) {
	m := startZonedMesh(t, map[string]string{"c1": "", "c2": "", "c3": ""}, "", "")
	done := make(chan loadResult)
	go func() { done <- steadyLoad(m.client, 300, 6*time.Second, 0) }()
	eventually(t, 5*time.Second, "load flowing to c1", func() bool { return m.apps["c1"].served.Load() >= 50 })
	m.sidecars["c1"].cmd.Process.Kill()
	r := <-done
	t.Logf("one of three callee sidecars SIGKILLed under 300 req/s: %d requests in %v, %d failed (%.3f %%; first: %v)",
		r.total(), r.elapsed.Round(time.Millisecond), r.failed, 100*float64(r.failed)/float64(max(r.total(), 1)), r.first)
	if r.total() < 900 { // half the nominal 1800: a loaded machine paces slower
		t.Fatalf("only %d requests sent; the load did not run", r.total())
	}
	if r.failed*1000 > r.total() {
		t.Fatalf("%d of %d requests failed, want at most 0.1 %%", r.failed, r.total())
	}
}

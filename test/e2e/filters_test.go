package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

const filtersMesh = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: shadow}
spec:
  ports: [{port: 80}]
---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - matches: [{path: {value: /legacy}}]
    filters: [{type: URLRewrite, urlRewrite: {hostname: catalog.internal, path: {type: ReplacePrefixMatch, replacePrefixMatch: /api}}}]
    backendRefs: [{name: catalog}]
  - matches: [{path: {value: /old}}]
    filters: [{type: RequestRedirect, requestRedirect: {scheme: https, hostname: docs.example, statusCode: 301, path: {type: ReplacePrefixMatch, replacePrefixMatch: /new}}}]
  - matches: [{path: {value: /mirrored}}]
    filters: [{type: RequestMirror, requestMirror: {backendRef: {name: shadow}, percent: 20}}]
    backendRefs: [{name: catalog}]
`

// shadowApp counts the copies it receives (requests under /mirrored) and
// answers after delay, or not at all once down.
type shadowApp struct {
	hits, wrongHost atomic.Int64
	delay           atomic.Int64 // ns
}

func (s *shadowApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasPrefix(r.URL.Path, "/mirrored") {
		s.hits.Add(1)
		if r.Host != "catalog-shadow" {
			s.wrongHost.Add(1)
		}
		time.Sleep(time.Duration(s.delay.Load())) // the slow target under test, not synchronisation
	}
	io.WriteString(w, "shadow")
}

// mirrorCounts reads weft_proxy_mirror_requests_total from a sidecar.
func mirrorCounts(t *testing.T, admin string) map[string]int {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, `weft_proxy_mirror_requests_total{result="`); ok {
			name, val, _ := strings.Cut(rest, `"} `)
			v, _ := strconv.ParseFloat(val, 64)
			out[name] = int(v)
		}
	}
	return out
}

// TestHTTPRouteFilters applies Gateway API's URLRewrite, RequestRedirect
// and RequestMirror through the control plane and measures each with
// real sidecars: the app sees the rewritten path and Host; the redirect
// is answered by the frontend's sidecar with the right Location and
// status, and no catalog instance sees it; 20 % of 1,000 requests are
// mirrored (± 4 %), and the primary's success and latency are the same
// whether the mirror target is fast, slow (2 s per copy) or down.
func TestHTTPRouteFilters(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMesh(t, c)
	shadow := &shadowApp{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: shadow, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	sadmin, slisten := freePort(t), freePort(t)
	startSidecar(t, "shadow", sadmin, fmt.Sprintf(`node: shadow-1
service: shadow
admin: %s
inbound: [{name: http, listen: %s, app: %s}]
register: {probe: {httpPath: /, interval: 200ms}}
limits: {drainTimeout: 5s}
controlPlane: {xds: [%s], api: [%s], cacheDir: %s}
`, sadmin, slisten, ln.Addr(), c.xds, c.api, t.TempDir()))
	if out, ok := weft(t, c.api, filtersMesh, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	client := *m.client
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

	// URLRewrite: the app sees the new path (query kept) and Host.
	var seen struct{ Path, Host string }
	eventually(t, 30*time.Second, "rewrite in force", func() bool {
		resp, err := client.Get("http://catalog/legacy/list?x=1")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&seen) == nil && seen.Path == "/api/list?x=1"
	})
	if seen.Host != "catalog.internal" {
		t.Errorf("app saw Host %q, want catalog.internal", seen.Host)
	}

	// RequestRedirect: answered by the frontend's sidecar alone.
	eventually(t, 30*time.Second, "redirect in force", func() bool {
		resp, err := client.Get("http://catalog/old/page?a=b")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 301
	})
	before := requestsTotal(t, m.sideAdmin["v1"], "inbound", "") + requestsTotal(t, m.sideAdmin["v2"], "inbound", "")
	for i := 0; i < 20; i++ {
		resp, err := client.Get("http://catalog/old/page?a=b")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 301 || resp.Header.Get("Location") != "https://docs.example/new/page?a=b" || len(body) > 64 {
			t.Fatalf("redirect: %d Location %q body %q", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	}
	if after := requestsTotal(t, m.sideAdmin["v1"], "inbound", "") + requestsTotal(t, m.sideAdmin["v2"], "inbound", ""); after != before {
		t.Errorf("catalog instances served %d requests during 20 redirects, want 0", after-before)
	}

	// RequestMirror: the share, and a primary untouched by its target.
	eventually(t, 30*time.Second, "mirror in force", func() bool {
		for i := 0; i < 20; i++ {
			hit(&client) // warm: the mirror starts once the route is pushed
			if resp, err := client.Get("http://catalog/mirrored"); err == nil {
				resp.Body.Close()
			}
		}
		return shadow.hits.Load() > 0
	})
	settle := func() map[string]int {
		var last map[string]int
		eventually(t, 15*time.Second, "mirrors settled", func() bool {
			now := mirrorCounts(t, m.admin)
			same := fmt.Sprint(now) == fmt.Sprint(last)
			last = now
			time.Sleep(300 * time.Millisecond) // two equal reads 300 ms apart: nothing in flight
			return same
		})
		return last
	}
	run := func(what string, n int) (failed int, lat []time.Duration) {
		for i := 0; i < n; i++ {
			began := time.Now()
			resp, err := client.Get("http://catalog/mirrored")
			if err != nil {
				failed++
				continue
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				failed++
			}
			lat = append(lat, time.Since(began))
		}
		sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
		t.Logf("%s: %d requests, %d failed, latency p50 %v p99 %v max %v", what, n, failed, lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1])
		return failed, lat
	}
	c0 := settle()
	h0 := shadow.hits.Load()
	const n = 1000
	failed, fast := run("mirror target fast", n)
	c1 := settle()
	got := shadow.hits.Load() - h0
	t.Logf("mirror 20%%: the shadow received %d of %d; sidecar counted sent %d dropped %d failed %d",
		got, n, c1["sent"]-c0["sent"], c1["dropped"]-c0["dropped"], c1["failed"]-c0["failed"])
	if failed > 0 {
		t.Errorf("%d primary requests failed", failed)
	}
	if got < n*16/100 || got > n*24/100 {
		t.Errorf("shadow received %d of %d, want 20 ± 4 %%", got, n)
	}
	if w := shadow.wrongHost.Load(); w > 0 {
		t.Errorf("%d copies without Host catalog-shadow", w)
	}

	shadow.delay.Store(int64(2 * time.Second))
	failed, slow := run("mirror target slow (2s)", 300)
	if failed > 0 || slow[len(slow)-1] >= time.Second || slow[len(slow)/2] > 2*fast[len(fast)/2]+20*time.Millisecond {
		t.Errorf("slow mirror target: %d failed, p50 %v (fast %v), max %v", failed, slow[len(slow)/2], fast[len(fast)/2], slow[len(slow)-1])
	}
	shadow.delay.Store(0)
	srv.Close() // the target's app is down: its sidecar answers the copies with errors
	failed, down := run("mirror target down", 300)
	if failed > 0 || down[len(down)-1] >= time.Second || down[len(down)/2] > 2*fast[len(fast)/2]+20*time.Millisecond {
		t.Errorf("mirror target down: %d failed, p50 %v (fast %v), max %v", failed, down[len(down)/2], fast[len(fast)/2], down[len(down)-1])
	}
}

package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

type mesh struct {
	front              *proc
	resourcesPath      string // the frontend's --resources file
	proxyAddr, portAdr string
	admin              string
	inbound            map[string]string
	client             *http.Client
}

func inboundConfig(node, admin, listen, app string) string {
	return fmt.Sprintf(`node: %s
service: catalog
admin: %s
inbound:
  - name: http
    listen: %s
    app: %s
limits:
  drainTimeout: 5s
`, node, admin, listen, app)
}

// frontendConfig is the frontend sidecar's bootstrap; what it calls comes
// from frontendResources, in the directory given with --resources.
func frontendConfig(m *mesh) string {
	return fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
outbound:
  proxy: %s
  ports:
    - listen: %s
      service: catalog
limits:
  drainTimeout: 5s
`, m.admin, m.proxyAddr, m.portAdr)
}

// frontendResources is the catalog Service, its two instances (the
// catalog sidecars' inbound listeners) and a route: x-canary: always to
// v2, the rest split w1:w2.
func frontendResources(m *mesh, w1, w2 int) string {
	h1, p1, _ := net.SplitHostPort(m.inbound["v1"])
	h2, p2, _ := net.SplitHostPort(m.inbound["v2"])
	return fmt.Sprintf(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  endpoints:
  - {address: %s, port: %s, labels: {version: v1}}
  - {address: %s, port: %s, labels: {version: v2}}
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
  - name: canary
    matches: [{headers: [{name: x-canary, value: always}]}]
    backendRefs: [{name: catalog, subset: v2}]
  - name: split
    backendRefs:
    - {name: catalog, subset: v1, weight: %d}
    - {name: catalog, subset: v2, weight: %d}
`, h1, p1, h2, p2, w1, w2)
}

// startMesh runs two catalog sidecars and a frontend sidecar with no
// control plane: `weft proxy --config front.yaml --resources DIR`.
func startMesh(t *testing.T) *mesh {
	t.Helper()
	m := &mesh{inbound: map[string]string{}}
	for _, v := range []string{"v1", "v2"} {
		app := startEcho(t, "catalog", v)
		admin, listen := freePort(t), freePort(t)
		startSidecar(t, "catalog-"+v, admin, inboundConfig("catalog-"+v, admin, listen, app))
		m.inbound[v] = listen
	}
	m.admin, m.proxyAddr, m.portAdr = freePort(t), freePort(t), freePort(t)
	dir := t.TempDir()
	m.resourcesPath = filepath.Join(dir, "catalog.yaml")
	if err := os.WriteFile(m.resourcesPath, []byte(frontendResources(m, 100, 0)), 0o600); err != nil {
		t.Fatal(err)
	}
	m.front, _ = startSidecar(t, "frontend", m.admin, frontendConfig(m), "--resources", dir)
	pu, _ := url.Parse("http://" + m.proxyAddr)
	m.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 16}}
	t.Cleanup(m.client.CloseIdleConnections)
	// ready means listening; the routes arrive over the in-process xDS
	// stream a moment later
	eventually(t, 10*time.Second, "catalog routed", func() bool {
		_, code, _ := get(m.client, "http://catalog/", nil)
		return code == 200
	})
	return m
}

type echoReply struct {
	Version string            `json:"version"`
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers"`
}

func get(c *http.Client, u string, hdr map[string]string) (*echoReply, int, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, 0, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, resp.StatusCode, err
	}
	if resp.StatusCode != 200 {
		return nil, resp.StatusCode, fmt.Errorf("status %d: %s", resp.StatusCode, body)
	}
	var r echoReply
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("decode %q: %w", body, err)
	}
	return &r, resp.StatusCode, nil
}

func split(t *testing.T, c *http.Client, n int, hdr map[string]string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		r, _, err := get(c, "http://catalog/items", hdr)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		counts[r.Version]++
	}
	return counts
}

func TestMeshRoutingReloadAndDrain(t *testing.T) {
	m := startMesh(t)

	t.Run("request through HTTP_PROXY reaches v1 with mesh headers", func(t *testing.T) {
		r, _, err := get(m.client, "http://catalog/items/42?x=1", nil)
		if err != nil {
			t.Fatal(err)
		}
		if r.Version != "v1" || r.Path != "/items/42?x=1" {
			t.Fatalf("got %+v", r)
		}
		if r.Headers["X-Request-Id"] == "" || !strings.Contains(r.Headers["X-Forwarded-For"], "127.0.0.1") {
			t.Fatalf("mesh headers missing: %v", r.Headers)
		}
	})

	t.Run("port bound to a service", func(t *testing.T) {
		r, _, err := get(http.DefaultClient, "http://"+m.portAdr+"/p", nil)
		if err != nil || r.Version != "v1" {
			t.Fatalf("got %+v, %v", r, err)
		}
	})

	t.Run("header canary goes to v2", func(t *testing.T) {
		if c := split(t, m.client, 20, map[string]string{"x-canary": "always"}); c["v2"] != 20 {
			t.Fatalf("split %v", c)
		}
	})

	t.Run("unknown service is 404 and reaches nobody", func(t *testing.T) {
		_, code, _ := get(m.client, "http://nothing.here/", nil)
		if code != http.StatusNotFound {
			t.Fatalf("status %d, want 404", code)
		}
	})

	t.Run("SIGHUP reload changes the split with zero failed requests", func(t *testing.T) {
		var failed, okCount atomic.Int64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 2000; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if _, _, err := get(m.client, "http://catalog/load", nil); err != nil {
						failed.Add(1)
					} else {
						okCount.Add(1)
					}
				}
			}()
		}
		if err := os.WriteFile(m.resourcesPath, []byte(frontendResources(m, 50, 50)), 0o600); err != nil {
			t.Fatal(err)
		}
		m.front.signal(t, syscall.SIGHUP)
		eventually(t, 10*time.Second, "resources applied", func() bool {
			return strings.Contains(m.front.output(), `msg="resources applied"`)
		})
		close(stop)
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d of %d requests failed during reload", failed.Load(), failed.Load()+okCount.Load())
		}
		c := split(t, m.client, 200, nil)
		if c["v1"] < 60 || c["v2"] < 60 {
			t.Fatalf("50:50 split looks wrong: %v", c)
		}
	})

	t.Run("bad resources are refused and the running config stays", func(t *testing.T) {
		bad := strings.Replace(frontendResources(m, 0, 100), "subset: v2}]", "subset: v9}]", 1)
		if err := os.WriteFile(m.resourcesPath, []byte(bad), 0o600); err != nil {
			t.Fatal(err)
		}
		m.front.signal(t, syscall.SIGHUP)
		want := m.resourcesPath + `: HTTPRoute/default/catalog: spec.rules[0].backendRefs[0].subset: Service \"catalog\" has no subset \"v9\"`
		eventually(t, 10*time.Second, "rejection logged", func() bool { return strings.Contains(m.front.output(), want) })
		// still 50:50 and the canary still works: nothing of the bad file
		// (which also asked for 0:100) was applied
		if c := split(t, m.client, 200, nil); c["v1"] < 60 || c["v2"] < 60 {
			t.Fatalf("split after a refused file: %v", c)
		}
		if c := split(t, m.client, 10, map[string]string{"x-canary": "always"}); c["v2"] != 10 {
			t.Fatalf("canary after a refused file: %v", c)
		}
	})

	t.Run("SIGTERM drains: in-flight request completes, readiness drops, exit", func(t *testing.T) {
		type res struct {
			code int
			err  error
		}
		done := make(chan res, 1)
		go func() {
			_, code, err := get(m.client, "http://catalog/slow?delay=700ms", nil)
			done <- res{code, err}
		}()
		// The request is in flight once the upstream pool shows a busy connection;
		// polling the admin endpoint keeps this free of sleeps.
		eventually(t, 5*time.Second, "request in flight", func() bool { return inFlight(m.admin) })
		m.front.signal(t, syscall.SIGTERM)
		eventually(t, 2*time.Second, "readiness to fail", func() bool { return !httpOK(http.DefaultClient, "http://"+m.admin+"/ready") })
		r := <-done
		if r.err != nil || r.code != 200 {
			t.Fatalf("in-flight request: code %d err %v", r.code, r.err)
		}
		m.front.waitExit(t, 7*time.Second)
	})
}

// inFlight reports whether any outbound endpoint has a connection in use.
func inFlight(admin string) bool {
	resp, err := http.Get("http://" + admin + "/config")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var d struct {
		Clusters []struct {
			Endpoints []struct {
				OpenConns, IdleConns int
			} `json:"endpoints"`
		} `json:"clusters"`
	}
	if json.NewDecoder(resp.Body).Decode(&d) != nil {
		return false
	}
	for _, c := range d.Clusters {
		for _, e := range c.Endpoints {
			if e.OpenConns > e.IdleConns {
				return true
			}
		}
	}
	return false
}

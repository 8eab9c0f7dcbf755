package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// drainMesh is a frontend sidecar calling two catalog instances by round
// robin, each behind a registering sidecar, on one control plane with a
// 10s lease (the default) and a 1s stream grace.
type drainMesh struct {
	client   *http.Client
	front    string // the frontend sidecar's admin address
	sidecars map[string]*proc
	admins   map[string]string
}

func startDrainMesh(t *testing.T) *drainMesh {
	t.Helper()
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"), "--lease-ttl", "10s", "--stream-grace", "1s")
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s]}\n", c.xds, c.api)
	m := &drainMesh{sidecars: map[string]*proc{}, admins: map[string]string{}}
	for _, v := range []string{"v1", "v2"} {
		app := startEcho(t, "catalog", v)
		admin, listen := freePort(t), freePort(t)
		m.admins[v] = admin
		m.sidecars[v], _ = startSidecar(t, "catalog-"+v, admin, fmt.Sprintf(`node: catalog-%s
service: catalog
admin: %s
inbound: [{name: http, listen: %s, app: %s}]
register: {labels: {version: %s}, probe: {httpPath: /, interval: 200ms}}
limits: {drainDelay: 1s, drainTimeout: 5s}
`, v, admin, listen, app, v)+cpYAML)
	}
	m.front = freePort(t)
	proxyAddr := freePort(t)
	startSidecar(t, "frontend", m.front, fmt.Sprintf("node: frontend-1\nservice: frontend\nadmin: %s\noutbound: {proxy: %s}\n", m.front, proxyAddr)+cpYAML)
	svc := `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec: {ports: [{port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: catalog}
spec:
  targetRef: {name: catalog}
  loadBalancer: {type: ROUND_ROBIN}
`
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	pu, _ := url.Parse("http://" + proxyAddr)
	m.client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 16}}
	t.Cleanup(m.client.CloseIdleConnections)
	eventually(t, 20*time.Second, "both catalog instances in the frontend's endpoints", func() bool { return m.endpoints() == 2 })
	return m
}

// endpoints counts the frontend's catalog endpoints (-1: unreadable).
func (m *drainMesh) endpoints() int {
	resp, err := http.Get("http://" + m.front + "/config")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var d struct {
		Clusters []struct {
			Name      string            `json:"name"`
			Endpoints []json.RawMessage `json:"endpoints"`
		} `json:"clusters"`
	}
	if json.NewDecoder(resp.Body).Decode(&d) != nil {
		return -1
	}
	n := 0
	for _, c := range d.Clusters {
		if strings.HasPrefix(c.Name, "catalog") {
			n += len(c.Endpoints)
		}
	}
	return n
}

// pacedLoad sends about 400 requests/s (4 workers, one request per 10ms
// each) for at most 15s, recording when each failure happened.
type pacedLoad struct {
	mu     sync.Mutex
	ok     int
	fails  []time.Time
	first  error
	stop   chan struct{}
	wg     sync.WaitGroup
	client *http.Client
}

func startLoad(c *http.Client) *pacedLoad {
	l := &pacedLoad{stop: make(chan struct{}), client: c}
	deadline := time.After(15 * time.Second)
	done := make(chan struct{})
	go func() {
		select {
		case <-deadline:
		case <-l.stop:
		}
		close(done)
	}()
	for w := 0; w < 4; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; i < 1500; i++ {
				select {
				case <-done:
					return
				case <-tick.C:
				}
				_, _, err := get(l.client, "http://catalog/items", nil)
				l.mu.Lock()
				if err != nil {
					l.fails = append(l.fails, time.Now())
					if l.first == nil {
						l.first = err
					}
				} else {
					l.ok++
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

func (l *pacedLoad) okCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok
}

func (l *pacedLoad) finish() (ok int, fails []time.Time, first error) {
	close(l.stop)
	l.wg.Wait()
	return l.ok, l.fails, l.first
}

// TestSIGTERMLosesNoRequest (RELIABILITY.md T20): a callee sidecar told to
// stop under load fails its readiness at once, deregisters, and keeps
// serving until its callers have dropped it, so no request fails.
func TestSIGTERMLosesNoRequest(t *testing.T) {
	m := startDrainMesh(t)
	load := startLoad(m.client)
	eventually(t, 10*time.Second, "load flowing", func() bool { return load.okCount() >= 200 })
	p := m.sidecars["v2"]
	sent := time.Now()
	p.signal(t, syscall.SIGTERM)
	eventually(t, 2*time.Second, "v2 readiness to fail", func() bool { return !httpOK(http.DefaultClient, "http://"+m.admins["v2"]+"/ready") })
	notReady := time.Since(sent)
	eventually(t, 3*time.Second, "v2 out of the frontend's endpoints", func() bool { return m.endpoints() == 1 })
	removed := time.Since(sent)
	p.waitExit(t, 1*time.Second+5*time.Second+time.Second)
	exited := time.Since(sent)
	atExit := load.okCount()
	eventually(t, 10*time.Second, "load flowing after the exit", func() bool { return load.okCount() >= atExit+200 })
	ok, fails, first := load.finish()
	t.Logf("SIGTERM under ~400 req/s: readiness failed after %v, endpoint removed after %v, exit after %v; %d ok, %d failed",
		notReady.Round(time.Millisecond), removed.Round(time.Millisecond), exited.Round(time.Millisecond), ok, len(fails))
	if len(fails) != 0 {
		t.Fatalf("graceful shutdown of a callee: %d requests failed (first: %v), want 0", len(fails), first)
	}
}

// TestKilledSidecarLeavesRotation: a callee sidecar killed outright cannot
// deregister; the control plane sees its xDS stream drop and takes its
// instance out within the stream grace (1s) plus a push, not the lease
// (10s), and requests fail only until then.
func TestKilledSidecarLeavesRotation(t *testing.T) {
	m := startDrainMesh(t)
	load := startLoad(m.client)
	eventually(t, 10*time.Second, "load flowing", func() bool { return load.okCount() >= 200 })
	p := m.sidecars["v2"]
	killed := time.Now()
	p.cmd.Process.Kill()
	eventually(t, 3*time.Second, "the killed instance out of the frontend's endpoints", func() bool { return m.endpoints() == 1 })
	removed := time.Now()
	atRemoval := load.okCount()
	eventually(t, 10*time.Second, "load flowing after the removal", func() bool { return load.okCount() >= atRemoval+200 })
	ok, fails, first := load.finish()
	late := 0
	for _, f := range fails {
		// A request already sent to the dead instance when the removal
		// landed may still fail; none picked after it.
		if f.After(removed.Add(100 * time.Millisecond)) {
			late++
		}
	}
	t.Logf("SIGKILL under ~400 req/s: instance removed after %v (grace 1s, lease 10s); %d ok, %d failed, %d of them after the removal (first: %v)",
		removed.Sub(killed).Round(time.Millisecond), ok, len(fails), late, first)
	if late != 0 {
		t.Fatalf("%d requests failed after the dead instance left the endpoints", late)
	}
}

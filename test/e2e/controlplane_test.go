package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// cp is one running `weft control`.
type cp struct {
	p        *proc
	xds, api string
	args     []string
	creds    string // where it writes ca.pem and operator.token
}

func startControl(t *testing.T, xds, apiAddr string, store ...string) *cp {
	t.Helper()
	// freePort's port is free when it returns, but the kernel may hand it
	// to another socket (an outgoing connection's ephemeral port) before
	// the control plane binds it: then try again on fresh ports.
	store, creds := credsArgs(t, store)
	for try := 1; ; try++ {
		// No dashboard unless the test asks (a later --dashboard wins):
		// control planes running side by side would all take its default port.
		args := append([]string{bin.weft, "control", "--xds", xds, "--api", apiAddr, "--lease-ttl", "3s", "--dashboard", "off"}, store...)
		c := &cp{xds: xds, api: apiAddr, args: args, creds: creds}
		registerCreds(apiAddr, creds)
		c.p = start(t, "control "+apiAddr, args...)
		taken := false
		eventually(t, 30*time.Second, "control plane API", func() bool {
			select {
			case <-c.p.done:
				taken = strings.Contains(c.p.output(), "address already in use")
				if !taken {
					t.Fatalf("control plane exited: %s", c.p.output())
				}
				return true
			default:
			}
			return apiUp(apiAddr, creds)
		})
		if !taken {
			return c
		}
		if try == 3 {
			t.Fatalf("control plane could not bind after %d tries: %s", try, c.p.output())
		}
		xds, apiAddr = freePort(t), freePort(t)
	}
}

func (c *cp) kill(t *testing.T) {
	t.Helper()
	c.p.cmd.Process.Kill()
	c.p.waitExit(t, 10*time.Second)
}

func (c *cp) restart(t *testing.T) {
	t.Helper()
	c.p = start(t, "control "+c.api+" (restarted)", c.args...)
	eventually(t, 30*time.Second, "control plane API after restart", func() bool { return apiUp(c.api, c.creds) })
}

// weft runs the CLI against servers and returns its combined output and
// whether it succeeded.
func weft(t *testing.T, servers string, stdin string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin.weft, args...)
	cmd.Env = append(append(os.Environ(), "WEFT_SERVER="+servers), credsEnv(servers)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil
}

// weftOut is weft with stdout alone (stderr dropped): for commands whose
// output is a value, such as a token.
func weftOut(t *testing.T, servers string, args ...string) (string, bool) {
	t.Helper()
	cmd := exec.Command(bin.weft, args...)
	cmd.Env = append(append(os.Environ(), "WEFT_SERVER="+servers), credsEnv(servers)...)
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out) + string(ee.Stderr), false
	}
	return string(out), err == nil
}

func catalogMesh(w1, w2 int) string {
	return fmt.Sprintf(`apiVersion: weft.dev/v1alpha1
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
metadata: {name: catalog-split}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - backendRefs:
    - {name: catalog, subset: v1, weight: %d}
    - {name: catalog, subset: v2, weight: %d}
`, w1, w2)
}

type cpMesh struct {
	client    *http.Client
	servers   string // the replicas' API addresses, comma-separated
	front     *proc
	frontPath string
	admin     string
	apps      map[string]*proc // the catalog apps by version
	appAddrs  map[string]string
	sidecars  map[string]*proc  // their sidecars
	sideAdmin map[string]string // their sidecars' admin addresses
}

// startCPMesh starts two catalog instances (v1, v2) and a frontend, each
// behind a sidecar fed by the given control-plane replicas.
func startCPMesh(t *testing.T, cps ...*cp) *cpMesh {
	t.Helper()
	return startCPMeshScoped(t, nil, cps...)
}

// startCPMeshScoped is startCPMesh with a frontend that declares the
// services it calls (nil: all).
func startCPMeshScoped(t *testing.T, frontServices []string, cps ...*cp) *cpMesh {
	t.Helper()
	var xds, apis []string
	for _, c := range cps {
		xds, apis = append(xds, c.xds), append(apis, c.api)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s], cacheDir: %s}\n", strings.Join(xds, ", "), strings.Join(apis, ", "), t.TempDir())
	apps, sidecars, appAddrs, sideAdmin := map[string]*proc{}, map[string]*proc{}, map[string]string{}, map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		app := freePort(t)
		appAddrs[v] = app
		apps[v] = start(t, "catalog-"+v+" app", bin.echo, "-addr", app, "-service", "catalog", "-version", v)
		eventually(t, 10*time.Second, "echo "+app, func() bool { return httpOK(http.DefaultClient, "http://"+app+"/") })
		admin, listen := freePort(t), freePort(t)
		sideAdmin[v] = admin
		sidecars[v], _ = startSidecar(t, "catalog-"+v, admin, fmt.Sprintf(`node: catalog-%s
service: catalog
admin: %s
inbound: [{name: http, listen: %s, app: %s}]
register: {labels: {version: %s}, probe: {httpPath: /, interval: 200ms}}
limits: {drainTimeout: 5s}
`, v, admin, listen, app, v)+cpYAML)
	}
	admin, proxyAddr := freePort(t), freePort(t)
	frontCP := cpYAML
	if frontServices != nil {
		frontCP = strings.Replace(cpYAML, "controlPlane: {", "controlPlane: {services: ["+strings.Join(frontServices, ", ")+"], ", 1)
	}
	front, frontPath := startSidecar(t, "frontend", admin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
outbound: {proxy: %s}
limits: {drainTimeout: 5s}
`, admin, proxyAddr)+frontCP)
	pu, _ := url.Parse("http://" + proxyAddr)
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: 16}}
	t.Cleanup(c.CloseIdleConnections)
	return &cpMesh{client: c, servers: strings.Join(apis, ","), front: front, frontPath: frontPath, admin: admin, apps: apps, sidecars: sidecars, appAddrs: appAddrs, sideAdmin: sideAdmin}
}

// tryShare samples n requests and returns the share of v2, or -1 if any
// request failed.
func (m *cpMesh) tryShare(n int) float64 {
	v2 := 0
	for i := 0; i < n; i++ {
		r, _, err := get(m.client, "http://catalog/items", nil)
		if err != nil {
			return -1
		}
		if r.Version == "v2" {
			v2++
		}
	}
	return float64(v2) / float64(n)
}

func (m *cpMesh) waitShare(t *testing.T, what string, lo, hi float64) {
	t.Helper()
	eventually(t, 20*time.Second, what, func() bool {
		s := m.tryShare(100)
		return s >= lo && s <= hi
	})
}

func (m *cpMesh) waitSynced(t *testing.T, server string, n int) {
	t.Helper()
	eventually(t, 30*time.Second, fmt.Sprintf("%d proxies SYNCED on %s", n, server), func() bool {
		out, ok := weft(t, server, "", "get", "proxies")
		return ok && strings.Count(out, " SYNCED ") == n
	})
}

// load sends requests from workers until stop is called, counting failures.
func (m *cpMesh) load(workers int) (stop func() (ok, failed int64, firstErr error)) {
	var okN, failN atomic.Int64
	var first atomic.Value
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				if _, _, err := get(m.client, "http://catalog/items", nil); err != nil {
					failN.Add(1)
					first.CompareAndSwap(nil, err)
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	return func() (int64, int64, error) {
		cancel()
		wg.Wait()
		err, _ := first.Load().(error)
		return okN.Load(), failN.Load(), err
	}
}

// TestControlPlaneMesh is the control plane's acceptance test: instances
// register, routing follows applied HTTPRoutes and their weight changes, a
// bad resource is refused with its field, the control plane can die under
// load with no failed request and resync on restart, and history and
// rollback work.
func TestControlPlaneMesh(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMesh(t, c)

	out, ok := weft(t, c.api, strings.Replace(catalogMesh(100, 0), "weight: 0", "weight: -3", 1), "apply", "-f", "-")
	if ok || !strings.Contains(out, "spec.rules[0].backendRefs[1].weight: must be >= 0") {
		t.Fatalf("bad resource: want refusal naming the field, got ok=%v:\n%s", ok, out)
	}
	if out, ok := weft(t, c.api, catalogMesh(100, 0), "apply", "-f", "-"); !ok || !strings.Contains(out, "config revision 1") {
		t.Fatalf("apply: %s", out)
	}
	eventually(t, 20*time.Second, "both instances registered and ready", func() bool {
		out, ok := weft(t, c.api, "", "get", "instances", "catalog")
		return ok && strings.Count(out, " true ") == 2
	})
	m.waitShare(t, "100/0 routes everything to v1", 0, 0)

	// A service outside the mesh, known by DNS name: the sidecar resolves
	// "localhost" when it connects.
	_, port, _ := strings.Cut(m.appAddrs["v1"], ":")
	ext := fmt.Sprintf("apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: legacy}\nspec: {ports: [{port: %s}], dns: localhost}\n", port)
	if out, ok := weft(t, c.api, ext, "apply", "-f", "-"); !ok {
		t.Fatalf("apply DNS service: %s", out)
	}
	eventually(t, 20*time.Second, "DNS service reachable through the mesh", func() bool {
		r, _, err := get(m.client, "http://legacy/x", nil)
		return err == nil && r.Version == "v1"
	})

	if out, ok := weft(t, c.api, catalogMesh(0, 100), "apply", "-f", "-", "--dry-run"); !ok || !strings.Contains(out, `-             "weight": 100`) {
		t.Fatalf("dry run: want a diff of the weights, got:\n%s", out)
	}
	m.waitShare(t, "a dry run changes nothing", 0, 0)
	weft(t, c.api, catalogMesh(0, 100), "apply", "-f", "-")
	m.waitShare(t, "0/100 routes everything to v2", 1, 1)
	weft(t, c.api, catalogMesh(50, 50), "apply", "-f", "-")
	m.waitShare(t, "50/50 splits", 0.3, 0.7)
	m.waitSynced(t, c.api, 3)

	// The control plane dies under load: sidecars keep serving.
	stop := m.load(4)
	c.kill(t)
	if s := m.tryShare(200); s < 0.3 || s > 0.7 {
		t.Fatalf("with the control plane down, the split changed or requests failed: v2 share %.2f", s)
	}
	c.restart(t)
	m.waitSynced(t, c.api, 3)
	okN, failed, firstErr := stop()
	if failed != 0 || okN == 0 {
		t.Fatalf("control plane outage: %d ok, %d failed (first: %v)", okN, failed, firstErr)
	}
	t.Logf("control plane killed and restarted under load: %d requests, 0 failed", okN)

	// A sidecar restarted while the control plane is down serves the config
	// it cached on disk.
	c.kill(t)
	m.front.signal(t, syscall.SIGTERM)
	m.front.waitExit(t, 10*time.Second)
	m.client.CloseIdleConnections()
	m.front = start(t, "frontend (restarted)", bin.weft, "proxy", "--config", m.frontPath)
	eventually(t, 10*time.Second, "restarted frontend ready", func() bool { return httpOK(http.DefaultClient, "http://"+m.admin+"/ready") })
	if s := m.tryShare(200); s < 0.3 || s > 0.7 {
		t.Fatalf("restarted sidecar without a control plane: want the cached 50/50 split, got v2 share %.2f", s)
	}
	c.restart(t)
	m.waitSynced(t, c.api, 3)

	// History and rollback.
	out, ok = weft(t, c.api, "", "history")
	if !ok || !strings.Contains(out, "\n3 ") || !strings.Contains(out, "\n1 ") {
		t.Fatalf("history:\n%s", out)
	}
	if out, ok := weft(t, c.api, "", "rollback", "3"); !ok || !strings.Contains(out, "config revision 5") {
		t.Fatalf("rollback: %s", out)
	}
	m.waitShare(t, "rollback to revision 3 (0/100)", 1, 1)
	out, _ = weft(t, c.api, "", "get", "routes")
	if !strings.Contains(out, "catalog-split") || !strings.Contains(out, "True (3/3)") {
		t.Fatalf("get routes: want catalog-split programmed on 3/3 sidecars:\n%s", out)
	}
}

func startEtcd(t *testing.T) string {
	t.Helper()
	etcd, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("etcd binary missing in CI: scripts/install-deps.sh installs etcd-server")
		}
		t.Skip("etcd not installed (apt-get install etcd-server, or run ./test.sh)")
	}
	client, peer, dir := freePort(t), freePort(t), t.TempDir()
	start(t, "etcd", etcd, "--name", "e2e", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", "http://"+client, "--advertise-client-urls", "http://"+client,
		"--listen-peer-urls", "http://"+peer, "--initial-advertise-peer-urls", "http://"+peer,
		"--initial-cluster", "e2e=http://"+peer, "--heartbeat-interval", "10", "--election-timeout", "100")
	eventually(t, 20*time.Second, "etcd health", func() bool { return httpOK(http.DefaultClient, "http://"+client+"/health") })
	return "http://" + client
}

// TestTwoReplicasSurviveEitherLoss runs two control planes on one external
// etcd (Debian's etcd-server): sidecars fail over between them, and either
// alone keeps the mesh configurable.
func TestTwoReplicasSurviveEitherLoss(t *testing.T) {
	etcd := startEtcd(t)
	a := startControl(t, freePort(t), freePort(t), "--etcd-endpoints", etcd)
	b := startControl(t, freePort(t), freePort(t), "--etcd-endpoints", etcd)
	m := startCPMesh(t, a, b)
	if out, ok := weft(t, m.servers, catalogMesh(100, 0), "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	m.waitShare(t, "100/0 through replica a", 0, 0)

	stop := m.load(2)
	a.kill(t)
	// Every sidecar moves to b; a change applied through b reaches them.
	m.waitSynced(t, b.api, 3)
	if out, ok := weft(t, m.servers, catalogMesh(0, 100), "apply", "-f", "-"); !ok {
		t.Fatalf("apply with replica a down: %s", out)
	}
	m.waitShare(t, "0/100 through replica b", 1, 1)

	a.restart(t)
	b.kill(t)
	m.waitSynced(t, a.api, 3)
	if out, ok := weft(t, m.servers, catalogMesh(50, 50), "apply", "-f", "-"); !ok {
		t.Fatalf("apply with replica b down: %s", out)
	}
	m.waitShare(t, "50/50 through replica a", 0.3, 0.7)
	okN, failed, firstErr := stop()
	if failed != 0 {
		t.Fatalf("replica failover: %d ok, %d failed (first: %v)", okN, failed, firstErr)
	}
	if out, _ := weft(t, a.api, "", "history"); !strings.Contains(out, "\n3 ") {
		t.Fatalf("history shared through etcd should hold 3 revisions:\n%s", out)
	}
}

// TestProbeFailureStopsTraffic: when an app stops answering its sidecar's
// probe, its instance turns not-ready and traffic goes to the others; when
// it comes back, so does its share.
func TestProbeFailureStopsTraffic(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMesh(t, c)
	svc := catalogMesh(1, 1)
	// Round robin: P2C would send sequential requests to the faster
	// instance only, which is right for latency but hides a split.
	svc = svc[:strings.Index(svc, "---")] + `---
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
	m.waitShare(t, "both versions serve", 0.2, 0.8)
	app := m.apps["v2"]
	app.cmd.Process.Kill()
	app.waitExit(t, 5*time.Second)
	eventually(t, 10*time.Second, "v2 reported not ready", func() bool {
		out, _ := weft(t, c.api, "", "get", "instances", "catalog")
		return strings.Contains(out, "false")
	})
	m.waitShare(t, "all traffic on v1, none failing", 0, 0)
	m.apps["v2"] = start(t, "catalog-v2 app (restarted)", app.cmd.Args...)
	m.waitShare(t, "v2 back in rotation", 0.2, 0.8)

	// A sidecar that dies without deregistering expires with its lease
	// (--lease-ttl 3s), and traffic moves to the live instance.
	killed := time.Now()
	m.sidecars["v2"].cmd.Process.Kill()
	m.sidecars["v2"].waitExit(t, 5*time.Second)
	eventually(t, 10*time.Second, "the dead sidecar's instance expires", func() bool {
		out, _ := weft(t, c.api, "", "get", "instances", "catalog")
		return strings.Contains(out, "catalog-v1") && !strings.Contains(out, "catalog-v2")
	})
	t.Logf("dead instance expired %v after its sidecar was killed (lease TTL 3s)", time.Since(killed).Round(100*time.Millisecond))
	m.waitShare(t, "all traffic on v1 after the expiry", 0, 0)
}

// TestServicesLearnedFromTraffic: a sidecar that declared only catalog
// receives catalog's config alone; its app's first request to another
// service asks the control plane for it and succeeds.
func TestServicesLearnedFromTraffic(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMeshScoped(t, []string{"catalog"}, c)
	_, port, _ := strings.Cut(m.appAddrs["v2"], ":")
	mesh := catalogMesh(100, 0) + fmt.Sprintf("---\napiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: legacy}\nspec: {ports: [{port: %s}], dns: localhost}\n", port)
	if out, ok := weft(t, c.api, mesh, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	m.waitShare(t, "catalog routed", 0, 0)
	if clusters := clusterNames(t, m.admin); strings.Contains(clusters, "legacy") {
		t.Fatalf("the scoped frontend holds legacy's config before calling it: %s", clusters)
	}
	r, _, err := get(m.client, "http://legacy/first", nil)
	if err != nil || r.Version != "v2" {
		t.Fatalf("first request to an undeclared service: %+v %v", r, err)
	}
	if clusters := clusterNames(t, m.admin); !strings.Contains(clusters, "legacy") {
		t.Fatalf("legacy not learned: %s", clusters)
	}
	// An unknown service is still a 404, answered without a wait the second time.
	if _, code, _ := get(m.client, "http://nosuch/x", nil); code != http.StatusNotFound {
		t.Fatalf("unknown service: status %d, want 404", code)
	}
}

// clusterNames reads a sidecar's /config.
func clusterNames(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/config")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d struct {
		Clusters []struct{ Name string } `json:"clusters"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range d.Clusters {
		names = append(names, c.Name)
	}
	return strings.Join(names, ",")
}

//go:build !proxyonly

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// runStandalone runs a sidecar fed from dir in this process, as
// `weft proxy --resources dir` does, and waits until it has applied the
// directory's first version. Everything stops when the test ends.
func runStandalone(t *testing.T, cfg *sidecar.Config, dir string) (sidecar.Addrs, *dirFeed) {
	t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	feed, err := startDirFeed(dir, 20*time.Millisecond, log)
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan sidecar.Addrs, 1)
	sc, err := sidecar.New(cfg, sidecar.Options{Logger: log, Ready: func(a sidecar.Addrs) { ready <- a },
		ControlPlane: &sidecar.ControlPlane{XDS: []string{feed.addr()}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	feedCtx, stopFeed := context.WithCancel(context.Background())
	runErr, feedErr := make(chan error, 1), make(chan error, 1)
	go func() { feedErr <- feed.run(feedCtx) }()
	go func() { runErr <- sc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("sidecar: %v", err)
		}
		stopFeed()
		if err := <-feedErr; err != nil {
			t.Errorf("feed: %v", err)
		}
	})
	var a sidecar.Addrs
	select {
	case a = <-ready:
	case err := <-runErr:
		t.Fatalf("sidecar: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("sidecar did not start")
	}
	if err := feed.srv.Applied(context.Background(), "1", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	return a, feed
}

// backend is an HTTP app that answers with its name and the
// X-Forwarded-For it saw (only the mesh's HTTP path sets it).
func backend(t *testing.T, name string) (host string, port int) {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s xff=%s", name, r.Header.Get("X-Forwarded-For"))
	}))
	t.Cleanup(s.Close)
	return splitAddr(t, s.Listener.Addr().String())
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	fmt.Sscan(p, &port)
	return h, port
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

const head = "apiVersion: weft.dev/v1alpha1\n"

// catalogResources is a catalog Service with two static instances, v1 and
// v2, and an HTTPRoute: header x-canary: always and path /api go to v2,
// the rest is split w1:w2.
func catalogResources(h1 string, p1 int, h2 string, p2 int, w1, w2 int) string {
	return fmt.Sprintf(head+`kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  endpoints:
  - {address: %s, port: %d, labels: {version: v1}}
  - {address: %s, port: %d, labels: {version: v2}}
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
`+head+`kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - matches: [{headers: [{name: x-canary, value: always}]}]
    backendRefs: [{name: catalog, subset: v2}]
  - matches: [{path: {type: PathPrefix, value: /api}}]
    backendRefs: [{name: catalog, subset: v2}]
  - backendRefs: [{name: catalog, subset: v1, weight: %d}, {name: catalog, subset: v2, weight: %d}]
`, h1, p1, h2, p2, w1, w2)
}

func proxyClient(t *testing.T, proxy string) *http.Client {
	t.Helper()
	pu, _ := url.Parse("http://" + proxy)
	tr := &http.Transport{Proxy: http.ProxyURL(pu)}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}
}

// fetch returns the status and body, or fails the test.
func fetch(t *testing.T, c *http.Client, u string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// counts sends n requests and counts the answering backends by name.
func counts(t *testing.T, c *http.Client, n int, u string, hdr ...string) map[string]int {
	t.Helper()
	out := map[string]int{}
	for range n {
		code, body := fetch(t, c, u, hdr...)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", u, code, body)
		}
		name, _, _ := strings.Cut(body, " ")
		out[name]++
	}
	return out
}

// The routing behaviour the sidecar's static routes had, now from
// resources: by header, by path, by weight, on the proxy port and on a
// service's port, 404 for an unknown host, and a changed file applied
// while running.
func TestResourcesRouteByHeaderPathAndWeight(t *testing.T) {
	h1, p1 := backend(t, "v1")
	h2, p2 := backend(t, "v2")
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog.yaml")
	writeFile(t, file, catalogResources(h1, p1, h2, p2, 100, 0))
	a, _ := runStandalone(t, &sidecar.Config{Node: "front", Admin: "off",
		Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0", Ports: []sidecar.OutboundPort{{Listen: "127.0.0.1:0", Service: "catalog"}}},
		Limits:   sidecar.Limits{DrainTimeout: time.Second}}, dir)
	c := proxyClient(t, a.Proxy)

	if got := counts(t, c, 20, "http://catalog/items"); got["v1"] != 20 {
		t.Errorf("100:0 split: %v", got)
	}
	if got := counts(t, c, 20, "http://catalog/items", "x-canary", "always"); got["v2"] != 20 {
		t.Errorf("header match: %v", got)
	}
	if got := counts(t, c, 20, "http://catalog/api/items"); got["v2"] != 20 {
		t.Errorf("path match: %v", got)
	}
	if got := counts(t, http.DefaultClient, 5, "http://"+a.Outbound["catalog"]+"/p"); got["v1"] != 5 {
		t.Errorf("service port: %v", got)
	}
	if code, _ := fetch(t, c, "http://nothing.here/"); code != http.StatusNotFound {
		t.Errorf("unknown host: %d, want 404", code)
	}

	writeFile(t, file, catalogResources(h1, p1, h2, p2, 50, 50))
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := counts(t, c, 40, "http://catalog/items")
		if got["v1"] > 0 && got["v2"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the 50:50 file was not applied: %v", got)
		}
	}
}

// A bad directory is refused whole, each error with its file, resource
// and field path, and the sidecar keeps routing by the config it had.
func TestResourcesBadDirectoryKeepsRunningConfig(t *testing.T) {
	h1, p1 := backend(t, "v1")
	h2, p2 := backend(t, "v2")
	dir := t.TempDir()
	file := filepath.Join(dir, "catalog.yaml")
	good := catalogResources(h1, p1, h2, p2, 100, 0)
	writeFile(t, file, good)
	a, feed := runStandalone(t, &sidecar.Config{Node: "front", Admin: "off",
		Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0"}, Limits: sidecar.Limits{DrainTimeout: time.Second}}, dir)
	c := proxyClient(t, a.Proxy)

	other := filepath.Join(dir, "other.yaml")
	steps := []struct {
		name  string
		apply func()
		want  []string
	}{
		{"bad field", func() {
			writeFile(t, other, head+"kind: Service\nmetadata: {name: other}\nspec: {ports: [{port: 0}]}\n")
		}, []string{other + ":4: Service/default/other: spec.ports[0].port"}},
		{"unknown subset", func() {
			os.Remove(other)
			writeFile(t, file, strings.Replace(good, "subset: v2}]\n  - matches", "subset: v9}]\n  - matches", 1))
		}, []string{file + `: HTTPRoute/default/catalog: spec.rules[0].backendRefs[0].subset: Service "catalog" has no subset "v9"`}},
		{"defined twice", func() {
			writeFile(t, file, good)
			writeFile(t, other, good)
		}, []string{other + ": Service/default/catalog: also defined in " + file, other + ": HTTPRoute/default/catalog: also defined in " + file}},
	}
	for _, st := range steps {
		st.apply()
		err := feed.reload(context.Background())
		if err == nil {
			t.Fatalf("%s: accepted", st.name)
		}
		for _, w := range st.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", st.name, err, w)
			}
		}
		if v := feed.srv.Version(); v != "1" {
			t.Fatalf("%s: served version %s, want the running 1", st.name, v)
		}
		if got := counts(t, c, 10, "http://catalog/items", "x-canary", "always"); got["v2"] != 10 {
			t.Fatalf("%s: canary no longer routed after a refused change: %v", st.name, got)
		}
	}
	os.Remove(other)
	if err := feed.reload(context.Background()); err != nil {
		t.Fatalf("good directory again: %v", err)
	}
}

// Issue 7 finding 6, now with services from resources: a client that
// connects and sends its request 300 ms later is served through the HTTP
// path on the proxy port and on an outbound service port (the app sees
// X-Forwarded-For, which a raw tunnel would not set); and a Service known
// by DNS name is reached.
func TestResourcesDNSAndQuietConnect(t *testing.T) {
	h, p := backend(t, "app")
	_, lp := backend(t, "legacy")
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "svc.yaml"), fmt.Sprintf(head+`kind: Service
metadata: {name: app}
spec: {ports: [{port: 80}], endpoints: [{address: %s, port: %d}]}
---
`+head+`kind: Service
metadata: {name: legacy}
spec: {ports: [{port: %d}], dns: localhost}
`, h, p, lp))
	a, _ := runStandalone(t, &sidecar.Config{Node: "n1", Service: "web", Admin: "off",
		Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0", Ports: []sidecar.OutboundPort{{Listen: "127.0.0.1:0", Service: "app"}}},
		Limits:   sidecar.Limits{DrainTimeout: time.Second}}, dir)

	if code, body := fetch(t, proxyClient(t, a.Proxy), "http://legacy/x"); code != 200 || !strings.HasPrefix(body, "legacy ") {
		t.Errorf("dns service: %d %q", code, body)
	}
	targets := []struct{ name, addr, send string }{
		{"proxy port", a.Proxy, "GET http://app/x HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"},
		{"service port", a.Outbound["app"], "GET /x HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"},
	}
	conns := make([]net.Conn, len(targets))
	for i, tt := range targets {
		c, err := net.Dial("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	time.Sleep(300 * time.Millisecond) // the input under test: silence after connecting
	for i, tt := range targets {
		c := conns[i]
		c.Write([]byte(tt.send))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		if got := string(b); got != "app xff=127.0.0.1" {
			t.Errorf("%s: got %q, want the HTTP path", tt.name, got)
		}
	}
}

// A Service whose port says tcp forwards bytes on its outbound port. The
// static services list did this; xDS does not carry it yet: translate
// gives a tcp Service an HTTP/1.1 cluster and the sidecar's xDS client
// knows no TCP cluster, so the port speaks HTTP. Unskip once both carry
// the protocol.
func TestResourcesTCPService(t *testing.T) {
	t.Skip("tcp Services are not carried over xDS yet (translate and xds/client): see the onelang report")
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	eh, ep := splitAddr(t, echo.Addr().String())
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "raw.yaml"), fmt.Sprintf(head+`kind: Service
metadata: {name: raw}
spec: {ports: [{port: 9000, protocol: tcp}], endpoints: [{address: %s, port: %d}]}
`, eh, ep))
	a, _ := runStandalone(t, &sidecar.Config{Node: "n1", Admin: "off",
		Outbound: sidecar.Outbound{Ports: []sidecar.OutboundPort{{Listen: "127.0.0.1:0", Service: "raw"}}},
		Limits:   sidecar.Limits{DrainTimeout: time.Second}}, dir)
	c, err := net.Dial("tcp", a.Outbound["raw"])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	const msg = "\x00hello\n"
	c.Write([]byte(msg))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, len(msg))
	io.ReadFull(c, b)
	if string(b) != msg {
		t.Fatalf("tcp service port: got %q, want %q", b, msg)
	}
}

// The example next to internal/sidecar/testdata/frontend.yaml loads and
// becomes one cluster per Service and subset, each with its instances;
// the request path reuses one pooled connection per endpoint.
func TestResourcesExampleAndPools(t *testing.T) {
	if err := checkResources("testdata/resources"); err != nil {
		t.Fatal(err)
	}
	a, _ := runStandalone(t, &sidecar.Config{Node: "front", Admin: "127.0.0.1:0",
		Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0"}, Limits: sidecar.Limits{DrainTimeout: time.Second}}, "testdata/resources")
	_, body := fetch(t, http.DefaultClient, "http://"+a.Admin+"/config")
	var d sidecar.ConfigDump
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, c := range d.Clusters {
		got[c.Name] = len(c.Endpoints)
	}
	want := map[string]int{"catalog.default": 2, "catalog.default/v1": 1, "catalog.default/v2": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("clusters %v, want %v", got, want)
	}
}

func TestResourcesRefuseAControlPlaneOfTheirOwn(t *testing.T) {
	err := standalone(&sidecar.Config{ControlPlane: &sidecar.ControlPlane{}, Register: &sidecar.Registration{}, Upstream: &sidecar.Upstream{}})
	for _, want := range []string{"controlPlane: --resources serves", "register: registration needs weft control", "upstream: quick mode excludes --resources"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func FuzzLoadResourceFile(f *testing.F) {
	seed, err := os.ReadFile("testdata/resources/catalog.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`[{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "a"}, "spec": {"ports": [{"port": 1}], "dns": "x.example"}}]`))
	f.Add([]byte("kind: List\nitems: [{kind: HTTPRoute}]\n---\n- 1\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "r.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rs, _, err := loadResourceFile(path)
		if err != nil {
			return
		}
		for _, r := range rs {
			if err := r.Validate(); err != nil {
				t.Fatalf("loaded a resource that Validate rejects: %v", err)
			}
		}
	})
}

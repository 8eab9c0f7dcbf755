package sidecar

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// runSidecar starts cfg in-process on ephemeral ports and returns its
// bound addresses; the sidecar drains when the test ends.
func runSidecar(t *testing.T, cfg *Config) (*Sidecar, Addrs) {
	t.Helper()
	ready := make(chan Addrs, 1)
	sc, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a Addrs) { ready <- a }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	select {
	case a := <-ready:
		return sc, a
	case err := <-errc:
		t.Fatalf("run: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("sidecar did not start")
	}
	return nil, Addrs{}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdminEndpoints runs quick mode (one upstream, no services): the
// request goes through, and /metrics and /config show it and its pool.
func TestAdminEndpoints(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("app")) }))
	defer app.Close()
	cfg := &Config{
		Node: "n1", Service: "web", Admin: "127.0.0.1:0",
		Outbound: Outbound{Proxy: "127.0.0.1:0", Ports: []OutboundPort{{Listen: "127.0.0.1:0", Service: "app"}}},
		Upstream: &Upstream{Address: app.Listener.Addr().String()},
		Limits:   Limits{DrainTimeout: time.Second},
	}
	_, a := runSidecar(t, cfg)
	admin := "http://" + a.Admin
	if code, _ := get(t, admin+"/live"); code != 200 {
		t.Fatalf("/live %d", code)
	}
	if code, _ := get(t, admin+"/ready"); code != 200 {
		t.Fatalf("/ready %d", code)
	}
	if code, body := get(t, "http://"+a.Outbound["app"]+"/x"); code != 200 || body != "app" {
		t.Fatalf("proxied request: %d %q", code, body)
	}
	// The first request's upstream connection goes back to the pool after
	// the response is relayed: wait for it, so the next request reuses it.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		_, body := get(t, admin+"/config")
		var d ConfigDump
		if json.Unmarshal([]byte(body), &d) == nil && len(d.Clusters) == 1 && len(d.Clusters[0].Endpoints) == 1 && d.Clusters[0].Endpoints[0].IdleConns == 1 {
			break
		}
	}
	// quick mode sends every host to its one upstream
	proxied := &http.Client{Transport: &http.Transport{Proxy: func(*http.Request) (*url.URL, error) { return url.Parse("http://" + a.Proxy) }}}
	resp, err := proxied.Get("http://any.host.example/y")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "app" {
		t.Fatalf("request for another host through the proxy port: %d %q", resp.StatusCode, b)
	}
	// The proxy records a request after relaying its response: wait for it.
	var metrics string
	reqLabels := []string{`reporter="source"`, `source_workload="web"`, `source_workload_namespace="default"`, `destination_service_name="upstream"`,
		`request_protocol="http"`, `response_code="200"`, `response_flags="-"`, `connection_security_policy="unknown"`}
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		_, metrics = get(t, admin+"/metrics")
		if hasSeries(metrics, "weft_requests_total", "2", reqLabels...) || time.Now().After(deadline) {
			break
		}
	}
	for _, want := range []string{
		`weft_proxy_active_connections{listener="outbound/app"}`,
		`weft_proxy_upstream_connections{endpoint="` + app.Listener.Addr().String() + `",service="upstream"} 1`,
		`process_resident_memory_bytes`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !hasSeries(metrics, "weft_requests_total", "2", reqLabels...) ||
		!hasSeries(metrics, "weft_request_duration_milliseconds_bucket", "2", append(reqLabels, `le="+Inf"`)...) {
		t.Errorf("/metrics lacks the two requests with labels %v:\n%s", reqLabels, metrics)
	}
	_, body := get(t, admin+"/config")
	var d ConfigDump
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if node, _ := d.Config.(map[string]any)["node"].(string); d.Version != "1" || node != "n1" || len(d.Clusters) != 1 || d.Clusters[0].Endpoints[0].OpenConns != 1 {
		t.Fatalf("/config %+v", d)
	}
}

func TestReloadRejectsListenerChangesAndBadConfig(t *testing.T) {
	cfg := &Config{Admin: "off", Outbound: Outbound{Proxy: "127.0.0.1:0"}, Upstream: &Upstream{Address: "127.0.0.1:1"}}
	sc, _ := runSidecar(t, cfg)
	moved := *cfg
	moved.Outbound.Proxy = "127.0.0.1:1"
	if err := sc.Reload(&moved); err == nil || !strings.Contains(err.Error(), "listener addresses changed") {
		t.Fatalf("reload with a moved listener: %v", err)
	}
	bad := *cfg
	bad.Upstream = &Upstream{Address: "127.0.0.1:1", Protocol: "nope"}
	if err := sc.Reload(&bad); err == nil || !strings.Contains(err.Error(), "upstream.protocol") {
		t.Fatalf("bad reload: %v", err)
	}
	if v := sc.active.Load().version; v != "1" {
		t.Fatalf("version %s after rejected reloads, want 1", v)
	}
}

func TestConfigFileChangeReloads(t *testing.T) {
	path := t.TempDir() + "/sidecar.yaml"
	write := func(s string) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("admin: \"off\"\noutbound: {proxy: 127.0.0.1:0}\nupstream: {address: 127.0.0.1:1}\n")
	cfg, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), ConfigPath: path, WatchInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- sc.Run(ctx) }()
	defer func() { cancel(); <-errc }()
	waitVersion := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for sc.active.Load().version != want {
			if time.Now().After(deadline) {
				t.Fatalf("version %s, want %s", sc.active.Load().version, want)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	write("admin: \"off\"\noutbound: {proxy: 127.0.0.1:0}\nupstream: {address: 127.0.0.1:2}\n")
	waitVersion("2")
	if a := sc.active.Load().cfg.Upstream.Address; a != "127.0.0.1:2" {
		t.Fatalf("upstream %s after reload", a)
	}
	// A broken file is refused; the running config stays.
	write("admin: \"off\"\noutbound: {proxy: 127.0.0.1:0}\nupstream: {address: nowhere}\n")
	write("admin: \"off\"\noutbound: {proxy: 127.0.0.1:0}\nupstream: {address: 127.0.0.1:3}\n")
	waitVersion("3")
}

// hasSeries reports whether text has a sample of name with value whose
// labels include every one of labels (`name="value"` each).
func hasSeries(text, name, value string, labels ...string) bool {
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok || !strings.HasSuffix(line, "} "+value) {
			continue
		}
		all := true
		for _, l := range labels {
			if !strings.Contains(rest, l) {
				all = false
				break
			}
		}
		if all {
			return true
		}
	}
	return false
}

package proxy

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// meshRuntime serves host "catalog" with one route per failure the mesh
// answers itself, and "/" to a live upstream.
func meshRuntime(t *testing.T, upAddr string) *Runtime {
	t.Helper()
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{
		Name: "catalog", Domains: []string{"catalog"},
		Routes: []route.Route{
			{Name: "nc", Match: route.Match{Path: route.PathMatch{Value: "/nc"}}, MissingClusterStatus: 500,
				Backends: []route.Backend{{Cluster: "ghost.default"}}},
			{Name: "nc503", Match: route.Match{Path: route.PathMatch{Value: "/nc503"}},
				Backends: []route.Backend{{Cluster: "ghost.default"}}},
			{Name: "uh", Match: route.Match{Path: route.PathMatch{Value: "/uh"}}, Backends: []route.Backend{{Cluster: "empty"}}},
			{Name: "uf", Match: route.Match{Path: route.PathMatch{Value: "/uf"}}, Backends: []route.Backend{{Cluster: "dead"}}},
			{Name: "up", Backends: []route.Backend{{Cluster: "up"}}},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := cluster.NewSet([]cluster.Config{
		{Name: "up", Endpoints: []cluster.EndpointConfig{{Address: upAddr}}},
		{Name: "empty"},
		{Name: "dead", Endpoints: []cluster.EndpointConfig{{Address: "127.0.0.1:1"}}}, // nothing listens on port 1
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	rt.Store(&State{Version: "1", Routes: tbl, Clusters: set})
	t.Cleanup(func() { cluster.Retire(rt.Load().Clusters, nil) })
	return rt
}

// Every response the mesh makes names its reason: a flag header, a
// one-line body, and the flag in the request metric. An app's copy of
// the header never reaches the client.
func TestMeshResponsesCarryFlags(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Weft-Response-Flags", "UH") // an app must not be able to fake the mesh
		io.WriteString(w, "app")
	}))
	defer up.Close()
	cases := []struct {
		host, path string
		status     int
		flag, body string
	}{
		{"nosuch", "/", 404, "NR", `weft: no route for host "nosuch" (NR)` + "\n"},
		{"catalog", "/nc", 500, "NC", `weft: no such backend "ghost.default" (NC)` + "\n"},
		{"catalog", "/nc503", 503, "NC", `weft: no such backend "ghost.default" (NC)` + "\n"},
		{"catalog", "/uh", 503, "UH", `weft: no healthy upstream for "empty" (UH)` + "\n"},
		{"catalog", "/uf", 502, "UF", "weft: upstream connection failed (UF)\n"},
		{"catalog", "/", 200, "", "app"},
	}
	engines := map[string]func(t *testing.T, m *telemetry.ProxyMetrics) (string, *http.Client){
		"http1": func(t *testing.T, m *telemetry.ProxyMetrics) (string, *http.Client) {
			h := NewHTTP1(HTTP1Config{Name: "t", Direction: "inbound", Runtime: meshRuntime(t, up.Listener.Addr().String()), Metrics: m})
			return serveEngine(t, h), &http.Client{Timeout: 5 * time.Second}
		},
		"http2": func(t *testing.T, m *telemetry.ProxyMetrics) (string, *http.Client) {
			h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: meshRuntime(t, up.Listener.Addr().String()), Metrics: m})
			return serveEngine(t, h), h2cClient()
		},
	}
	for name, start := range engines {
		t.Run(name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			addr, c := start(t, telemetry.NewProxyMetrics(reg))
			for _, tc := range cases {
				req, _ := http.NewRequest("GET", "http://"+addr+tc.path, nil)
				req.Host = tc.host
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s%s: %v", tc.host, tc.path, err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tc.status || resp.Header.Get("X-Weft-Response-Flags") != tc.flag || string(body) != tc.body {
					t.Errorf("%s%s: %d flag %q body %q; want %d %q %q", tc.host, tc.path,
						resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"), body, tc.status, tc.flag, tc.body)
				}
			}
			// The metric is recorded after the response is written: poll.
			want := map[string]float64{"NR": 1, "NC": 2, "UH": 1, "UF": 1, "-": 1}
			var flags map[string]float64
			for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				flags = countFlags(t, reg)
				if fmt.Sprint(flags) == fmt.Sprint(want) || time.Now().After(deadline) {
					break
				}
			}
			if fmt.Sprint(flags) != fmt.Sprint(want) {
				t.Errorf("response_flags counted %v, want %v", flags, want)
			}
		})
	}
}

// countFlags sums weft_requests_total by its response_flags label.
func countFlags(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	flags := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "weft_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "response_flags" {
					flags[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return flags
}

// A bad request head gets DPE with its own status and words, HEAD gets
// no body, and gRPC gets its status form with the flag beside it.
func TestMeshResponseForms(t *testing.T) {
	up := newRecorder(t)
	addr, _ := startHTTP1(t, up, nil)
	out, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nX-Big: "+strings.Repeat("x", 40<<10)+"\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 431 ") || !strings.Contains(out, "\r\nX-Weft-Response-Flags: DPE\r\n") ||
		!strings.HasSuffix(out, "\r\n\r\nweft: request header too large (DPE)\n") {
		t.Errorf("431:\n%s", out)
	}
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "inbound", Runtime: meshRuntime(t, up.addr())})
	addr = serveEngine(t, h)
	out, _ = exchange(t, addr, "HEAD / HTTP/1.1\r\nHost: nosuch\r\nConnection: close\r\n\r\n")
	if !strings.Contains(out, "X-Weft-Response-Flags: NR\r\n") || !strings.HasSuffix(out, "\r\n\r\n") {
		t.Errorf("HEAD got a body or no flag:\n%q", out)
	}

	h2 := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: meshRuntime(t, up.addr())})
	addr = serveEngine(t, h2)
	req, _ := http.NewRequest("POST", "http://"+addr+"/uh", nil)
	req.Host = "catalog"
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "14" || resp.Header.Get("X-Weft-Response-Flags") != "UH" ||
		resp.Header.Get("Grpc-Message") != `weft: no healthy upstream for "empty" (UH)` {
		t.Errorf("grpc: %d %v", resp.StatusCode, resp.Header)
	}
}

// The log budget per flag holds under a flood, and reports what it held back.
func TestFlagLogRateLimited(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	allowed := 0
	for i := 0; i < 1000; i++ {
		if ok, _ := allowFlagLog(telemetry.FlagRateLimited, now); ok {
			allowed++
		}
	}
	if allowed != flagLogPerSecond {
		t.Fatalf("%d lines in one second, want %d", allowed, flagLogPerSecond)
	}
	ok, suppressed := allowFlagLog(telemetry.FlagRateLimited, now.Add(time.Second))
	if !ok || suppressed != 1000-flagLogPerSecond {
		t.Fatalf("next second: ok %v suppressed %d", ok, suppressed)
	}
}

package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
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

// splitRuntime routes host catalog: x-canary: 1 to backend b, everything
// else 50/50 over a and b. Clusters speak cluster.Auto, as a Service with
// no protocol declared does.
func splitRuntime(t *testing.T, a, b string) *Runtime {
	t.Helper()
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{
		Name: "catalog", Domains: []string{"catalog"},
		Routes: []route.Route{
			{Name: "canary", Match: route.Match{Headers: []route.HeaderMatch{{Name: "x-canary", Value: "1"}}}, Backends: []route.Backend{{Cluster: "b"}}},
			{Name: "split", Backends: []route.Backend{{Cluster: "a", Weight: 50}, {Cluster: "b", Weight: 50}}},
		},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := cluster.NewSet([]cluster.Config{
		{Name: "a", Protocol: cluster.Auto, Endpoints: []cluster.EndpointConfig{{Address: a}}},
		{Name: "b", Protocol: cluster.Auto, Endpoints: []cluster.EndpointConfig{{Address: b}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	rt.Store(&State{Version: "1", Routes: tbl, Clusters: set})
	t.Cleanup(func() { cluster.Retire(rt.Load().Clusters, nil) })
	return rt
}

// namedApp is an HTTP/1.1-only app answering its name and the protocol
// version it was spoken to in.
func namedApp(t *testing.T, name string) string {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.Proto)
	}))
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

// connectTo opens a CONNECT tunnel to target through the engine at addr.
func connectTo(t *testing.T, addr, target string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT %s: %v %v", target, resp, err)
	}
	return c, br
}

// TestConnectToMeshServiceRoutedPerRequest: HTTP/1.1 requests inside a
// CONNECT tunnel to a mesh service follow weights and header matches one
// by one, and each is counted with its destination, as on an outbound port
// bound to the service.
func TestConnectToMeshServiceRoutedPerRequest(t *testing.T) {
	reg := prometheus.NewRegistry()
	rt := splitRuntime(t, namedApp(t, "a"), namedApp(t, "b"))
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt, Metrics: telemetry.NewProxyMetrics(reg)})
	c, br := connectTo(t, serveEngine(t, h), "catalog:80")
	seen := map[string]int{}
	const n = 40
	for i := 0; i < n+5; i++ {
		canary := ""
		if i >= n {
			canary = "X-Canary: 1\r\n"
		}
		fmt.Fprintf(c, "GET /items HTTP/1.1\r\nHost: catalog\r\n%s\r\n", canary)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request %d in the tunnel: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if i >= n {
			if string(body) != "b HTTP/1.1" {
				t.Fatalf("header match ignored in the tunnel: x-canary request answered %q", body)
			}
			continue
		}
		seen[string(body)]++
	}
	// Both sides of a 50/50 split over 40 requests: missing one has odds 2^-39.
	if seen["a HTTP/1.1"] == 0 || seen["b HTTP/1.1"] == 0 || seen["a HTTP/1.1"]+seen["b HTTP/1.1"] != n {
		t.Fatalf("weights ignored in the tunnel: %v", seen)
	}
	// Each request is recorded after its response is written: poll.
	var got float64
	for deadline := time.Now().Add(2 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if got = countRequests(t, reg, "a") + countRequests(t, reg, "b"); got == n+5 || time.Now().After(deadline) {
			break
		}
	}
	if got != n+5 {
		t.Fatalf("metrics counted %v requests to a and b, want %d", got, n+5)
	}
}

// TestConnectH2cInsideTunnel: HTTP/2 by prior knowledge (what grpc-go
// sends after CONNECT) is served per request too; the HTTP/1.1-only apps
// get each request converted.
func TestConnectH2cInsideTunnel(t *testing.T) {
	rt := splitRuntime(t, namedApp(t, "a"), namedApp(t, "b"))
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt})
	c, br := connectTo(t, serveEngine(t, h), "catalog:80")
	if br.Buffered() != 0 {
		t.Fatal("bytes after the 200")
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p, DialContext: func(context.Context, string, string) (net.Conn, error) { return c, nil }}
	cc, err := tr.NewClientConn(context.Background(), "http", "catalog:80")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := 0; i < 30; i++ {
		req, _ := http.NewRequest("GET", "http://catalog/items", nil)
		if i%3 == 0 {
			req.Header.Set("X-Canary", "1")
		}
		resp, err := cc.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
		if i%3 == 0 && string(body) != "b HTTP/1.1" {
			t.Fatalf("header match ignored: %q", body)
		}
		seen[string(body)]++
	}
	if seen["a HTTP/1.1"] == 0 || seen["b HTTP/1.1"] == 0 {
		t.Fatalf("weights ignored on one HTTP/2 connection: %v", seen)
	}
}

// TestConnectTLSInsideStaysTunnel: what the mesh cannot read (the app's own
// TLS) is tunnelled to one endpoint, byte for byte.
func TestConnectTLSInsideStaysTunnel(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		c, err := echo.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	rt := splitRuntime(t, echo.Addr().String(), echo.Addr().String())
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt})
	c, br := connectTo(t, serveEngine(t, h), "catalog:443")
	hello := "\x16\x03\x01\x00\x05hello"
	c.Write([]byte(hello))
	buf := make([]byte, len(hello))
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != hello {
		t.Fatalf("tunnel echoed %q, %v", buf, err)
	}
}

func countRequests(t *testing.T, reg *prometheus.Registry, service string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range mfs {
		if !strings.HasSuffix(mf.GetName(), "requests_total") {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "destination_service" && l.GetValue() == service {
					n += m.GetCounter().GetValue()
				}
			}
		}
	}
	return n
}

package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// filteredRuntime is newRuntime with one route whose filters mod sets.
func filteredRuntime(t testing.TB, addr string, proto cluster.Protocol, mod func(*route.Route)) *Runtime {
	t.Helper()
	r := route.Route{Name: "r", Backends: []route.Backend{{Cluster: "up"}}}
	mod(&r)
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []route.Route{r}}}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := cluster.NewSet([]cluster.Config{{Name: "up", Protocol: proto, Endpoints: []cluster.EndpointConfig{{Address: addr}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	rt.Store(&State{Version: "1", Routes: tbl, Clusters: set})
	t.Cleanup(func() { cluster.Retire(rt.Load().Clusters, nil) })
	return rt
}

// countingUpstream answers 200 "ok" and counts what reaches it.
func hitCountingUpstream(t *testing.T) (string, *atomic.Int64) {
	var n atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(up.Close)
	return up.Listener.Addr().String(), &n
}

func h1Filtered(t *testing.T, mod func(*route.Route), cfg func(*HTTP1Config)) (string, *atomic.Int64) {
	up, n := hitCountingUpstream(t)
	c := HTTP1Config{Name: "t", Direction: "outbound", Runtime: filteredRuntime(t, up, cluster.HTTP1, mod)}
	if cfg != nil {
		cfg(&c)
	}
	return serveEngine(t, NewHTTP1(c)), n
}

func get(t *testing.T, c *http.Client, addr string) (*http.Response, time.Duration) {
	t.Helper()
	began := time.Now()
	resp, err := c.Get("http://" + addr + "/items")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, time.Since(began)
}

func TestHTTP1RateLimit(t *testing.T) {
	addr, upstream := h1Filtered(t, func(r *route.Route) { r.RateLimit = &ratelimit.Config{Rate: 0.5, Burst: 3} }, nil)
	c := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 3; i++ {
		if resp, _ := get(t, c, addr); resp.StatusCode != 200 {
			t.Fatalf("request %d of the burst: %d", i, resp.StatusCode)
		}
	}
	resp, _ := get(t, c, addr)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || resp.Header.Get(flagHeader) != "RL" {
		t.Fatalf("past the burst: %d Retry-After %q flags %q, want 429, 2 (one token at 0.5/s), RL",
			resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get(flagHeader))
	}
	if resp.Close {
		t.Fatal("a 429 to a bodiless request closed the connection")
	}
	if upstream.Load() != 3 {
		t.Fatalf("upstream saw %d requests, want 3", upstream.Load())
	}
}

// 10 % abort injection yields 10 ± 2 % over 2,000 requests, and aborted
// requests never reach the upstream.
func TestHTTP1FaultAbortShare(t *testing.T) {
	addr, upstream := h1Filtered(t, func(r *route.Route) {
		r.Fault = &fault.Config{AbortHTTP: 503, AbortShare: 100_000}
	}, nil)
	c := &http.Client{Timeout: 5 * time.Second}
	const n = 2000
	aborted := 0
	for i := 0; i < n; i++ {
		resp, _ := get(t, c, addr)
		switch {
		case resp.StatusCode == 503 && resp.Header.Get(flagHeader) == "FI":
			aborted++
		case resp.StatusCode != 200:
			t.Fatalf("status %d flags %q", resp.StatusCode, resp.Header.Get(flagHeader))
		}
	}
	if aborted < 160 || aborted > 240 {
		t.Fatalf("aborted %d of %d, want 10 ± 2 %%", aborted, n)
	}
	if got := upstream.Load(); got != int64(n-aborted) {
		t.Fatalf("upstream saw %d, want the %d not aborted", got, n-aborted)
	}
}

func TestHTTP1FaultDelay(t *testing.T) {
	addr, _ := h1Filtered(t, func(r *route.Route) {
		r.Fault = &fault.Config{Delay: 200 * time.Millisecond, DelayShare: fault.Million}
	}, nil)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, took := get(t, c, addr)
	if resp.StatusCode != 200 || took < 200*time.Millisecond || took > 2*time.Second {
		t.Fatalf("status %d in %v, want 200 after 200ms", resp.StatusCode, took)
	}
}

// A delay longer than the route's timeout ends in 504 at the timeout.
func TestHTTP1FaultDelayBoundedByTimeout(t *testing.T) {
	addr, upstream := h1Filtered(t, func(r *route.Route) {
		r.Timeout = 150 * time.Millisecond
		r.Fault = &fault.Config{Delay: time.Minute, DelayShare: fault.Million}
	}, nil)
	c := &http.Client{Timeout: 5 * time.Second}
	resp, took := get(t, c, addr)
	if resp.StatusCode != 504 || took < 150*time.Millisecond || took > 2*time.Second {
		t.Fatalf("status %d in %v, want 504 after the 150ms timeout", resp.StatusCode, took)
	}
	if upstream.Load() != 0 {
		t.Fatal("the timed-out request reached the upstream")
	}
}

// A client that hangs up during a delay frees the connection at once,
// not at the end of the delay.
func TestHTTP1FaultDelayClientGone(t *testing.T) {
	up, upstream := hitCountingUpstream(t)
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: filteredRuntime(t, up, cluster.HTTP1, func(r *route.Route) {
		r.Fault = &fault.Config{Delay: time.Minute, DelayShare: fault.Million}
	})})
	addr := serveEngine(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: catalog\r\n\r\n")
	// The engine counts the connection while it serves it.
	waitFor(t, func() bool { return h.conns.Len() == 1 })
	c.Close()
	waitFor(t, func() bool { return h.conns.Len() == 0 })
	if upstream.Load() != 0 {
		t.Fatal("the abandoned request reached the upstream")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHTTP2RateLimitAndDelayFlag(t *testing.T) {
	up, _ := hitCountingUpstream(t)
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: filteredRuntime(t, up, cluster.HTTP1, func(r *route.Route) {
		r.RateLimit = &ratelimit.Config{Rate: 0.5, Burst: 1}
		r.Fault = &fault.Config{Delay: 50 * time.Millisecond, DelayShare: fault.Million}
	})})
	addr := serveEngine(t, h)
	c := h2cClient()
	resp, took := get(t, c, addr)
	if resp.StatusCode != 200 || resp.Header.Get(flagHeader) != "DI" || took < 50*time.Millisecond {
		t.Fatalf("first: %d flags %q in %v, want 200 DI after 50ms", resp.StatusCode, resp.Header.Get(flagHeader), took)
	}
	resp, _ = get(t, c, addr)
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "2" || resp.Header.Get(flagHeader) != "RL" {
		t.Fatalf("second: %d Retry-After %q flags %q", resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get(flagHeader))
	}
}

// A gRPC abort answers with the configured gRPC status.
func TestGRPCFaultAbort(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	defer srv.Stop()
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: filteredRuntime(t, ln.Addr().String(), cluster.HTTP2, func(r *route.Route) {
		r.Fault = &fault.Config{AbortGRPC: int(codes.ResourceExhausted), AbortShare: fault.Million}
	})})
	conn, err := grpc.NewClient(serveEngine(t, h), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err %v, want ResourceExhausted from the fault", err)
	}
}

package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// policyRuntime routes every request to one cluster built from cfg (named "up").
func policyRuntime(t testing.TB, cfg cluster.Config, opts ...cluster.Option) *Runtime {
	t.Helper()
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []route.Route{{Name: "r", Backends: []route.Backend{{Cluster: "up"}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Name = "up"
	set, err := cluster.NewSet([]cluster.Config{cfg}, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	rt.Store(&State{Version: "1", Routes: tbl, Clusters: set})
	t.Cleanup(func() { cluster.Retire(rt.Load().Clusters, nil) })
	return rt
}

// statusUpstream answers status to every request and counts them.
func statusUpstream(t *testing.T, status int) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.WriteHeader(status)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), &n
}

type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *manualClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// A failing endpoint is taken out after its consecutive 5xx, sees no
// traffic while ejected, returns after the base time, and is ejected for
// twice as long the second time.
func TestOutlierEjectsFailingEndpoint(t *testing.T) {
	good1, n1 := statusUpstream(t, 200)
	good2, n2 := statusUpstream(t, 200)
	bad, nb := statusUpstream(t, 503)
	clk := &manualClock{t: time.Unix(1_700_000_000, 0)}
	cfg := cluster.Config{
		LB:        cluster.LBRoundRobin,
		Endpoints: []cluster.EndpointConfig{{Address: good1}, {Address: bad}, {Address: good2}},
		Outlier: &breaker.OutlierConfig{Consecutive5xx: 3, Enforcing5xx: 100, Interval: 10 * time.Second,
			BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 10},
	}
	rt := policyRuntime(t, cfg, cluster.WithClock(clk))
	addr := serveEngine(t, NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt}))
	c := &http.Client{Timeout: 5 * time.Second}
	send := func(n int) (errs int) {
		for i := 0; i < n; i++ {
			resp, err := c.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs++
			}
		}
		return errs
	}
	if errs := send(60); errs != 3 || nb.Load() != 3 {
		t.Fatalf("before ejection: %d client errors, bad endpoint saw %d; want 3 and 3", errs, nb.Load())
	}
	if n1.Load()+n2.Load() != 57 {
		t.Fatalf("good endpoints served %d, want 57", n1.Load()+n2.Load())
	}
	ep := rt.Load().Clusters.Get("up").Endpoints[1]
	if got := ep.Outlier.EjectedUntil().Sub(clk.Now()); got != 30*time.Second {
		t.Fatalf("ejected for %v, want 30s", got)
	}
	clk.Advance(30 * time.Second)
	if errs := send(30); errs != 3 || nb.Load() != 6 {
		t.Fatalf("after return: %d errors, bad endpoint saw %d; want 3 and 6", errs, nb.Load())
	}
	if got := ep.Outlier.EjectedUntil().Sub(clk.Now()); got != 60*time.Second {
		t.Fatalf("second ejection lasts %v, want 60s", got)
	}
	if e := rt.Load().Clusters.Get("up").Ejections(); e != 2 {
		t.Fatalf("ejections %d, want 2", e)
	}
}

// holdingUpstream keeps every request until release is closed.
func holdingUpstream(t *testing.T) (addr string, arrived chan struct{}, release chan struct{}) {
	t.Helper()
	arrived, release = make(chan struct{}, 64), make(chan struct{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-release
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String(), arrived, release
}

// Past maxRequests in flight a request fails at once with 503 and the UO
// flag, and the cap frees as requests finish.
func TestBreakerOverflowFailsFast(t *testing.T) {
	for _, proto := range []string{"http1", "http2"} {
		t.Run(proto, func(t *testing.T) {
			up, arrived, release := holdingUpstream(t)
			rt := policyRuntime(t, cluster.Config{Endpoints: []cluster.EndpointConfig{{Address: up}}, Breaker: breaker.Limits{MaxRequests: 2}})
			var addr string
			c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 0}}
			if proto == "http1" {
				addr = serveEngine(t, NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt}))
			} else {
				addr = serveEngine(t, NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: rt}))
				c = h2cClient()
			}
			var wg sync.WaitGroup
			for i := 0; i < 2; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if resp, err := c.Get("http://" + addr + "/"); err == nil {
						resp.Body.Close()
					}
				}()
			}
			for i := 0; i < 2; i++ {
				select {
				case <-arrived:
				case <-time.After(5 * time.Second):
					t.Fatal("held requests did not reach the upstream")
				}
			}
			var worst time.Duration
			for i := 0; i < 5; i++ {
				start := time.Now()
				resp, err := c.Get("http://" + addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				worst = max(worst, time.Since(start))
				if resp.StatusCode != 503 || resp.Header.Get("x-weft-response-flags") != "UO" {
					t.Fatalf("overflow answered %d flags %q", resp.StatusCode, resp.Header.Get("x-weft-response-flags"))
				}
			}
			if worst > 100*time.Millisecond {
				t.Errorf("overflow took %v; it must fail fast", worst)
			}
			t.Logf("%s: slowest rejected request %v", proto, worst)
			close(release)
			wg.Wait()
			b := rt.Load().Clusters.Get("up").Breaker
			// The engine releases its slot after the response is written,
			// so the client can finish first: wait for it.
			for deadline := time.Now().Add(2 * time.Second); b.Active(breaker.Requests) != 0 && time.Now().Before(deadline); {
				time.Sleep(time.Millisecond)
			}
			if b.Active(breaker.Requests) != 0 || b.Overflows(breaker.Requests) != 5 {
				t.Fatalf("active %d overflows %d", b.Active(breaker.Requests), b.Overflows(breaker.Requests))
			}
			resp, err := c.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("after release: %d", resp.StatusCode)
			}
		})
	}
}

// The cluster-wide connection cap refuses a new connection with UO while
// another is held.
func TestBreakerConnectionCap(t *testing.T) {
	up, arrived, release := holdingUpstream(t)
	rt := policyRuntime(t, cluster.Config{Endpoints: []cluster.EndpointConfig{{Address: up}}, Breaker: breaker.Limits{MaxConnections: 1}})
	addr := serveEngine(t, NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt}))
	c := &http.Client{Timeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if resp, err := c.Get("http://" + addr + "/"); err == nil {
			resp.Body.Close()
		}
	}()
	<-arrived
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 || resp.Header.Get("x-weft-response-flags") != "UO" {
		t.Fatalf("second connection answered %d %q", resp.StatusCode, resp.Header.Get("x-weft-response-flags"))
	}
	if n := rt.Load().Clusters.Get("up").Breaker.Overflows(breaker.Connections); n != 1 {
		t.Fatalf("connection overflows %d", n)
	}
	close(release)
	<-done
}

// BenchmarkHTTP1ProxyPolicies is BenchmarkHTTP1Proxy with the breaker and
// outlier detection off, then on (caps never reached, success-rate
// counting on): the policies' cost per request.
func BenchmarkHTTP1ProxyPolicies(b *testing.B) {
	up := rawUpstream(b)
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("policies=%v", on), func(b *testing.B) {
			cfg := cluster.Config{Endpoints: []cluster.EndpointConfig{{Address: up}}}
			if on {
				cfg.Breaker = breaker.Limits{MaxConnections: 1000, MaxPendingRequests: 1000, MaxRequests: 1000, MaxRetries: 3}
				cfg.Outlier = &breaker.OutlierConfig{Consecutive5xx: 5, Enforcing5xx: 100, ConsecutiveGateway: 5, EnforcingGateway: 100,
					Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 10,
					EnforcingSuccessRate: 100, SuccessRateMinimumHosts: 5, SuccessRateRequestVolume: 100, SuccessRateStdevFactor: 1900}
			}
			tb := &testing.T{}
			h := NewHTTP1(HTTP1Config{Name: "bench", Direction: "outbound", Runtime: policyRuntime(tb, cfg)})
			benchEngine(b, serveEngine(tb, h))
		})
	}
}

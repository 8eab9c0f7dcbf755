package proxy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/retry"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// retryRuntime is one route "r" to cluster "up" over addrs with pol.
func retryRuntime(t *testing.T, addrs []string, pol *retry.Policy, budget retry.BudgetConfig) *Runtime {
	t.Helper()
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []route.Route{{Name: "r", Retry: pol, Backends: []route.Backend{{Cluster: "up"}}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	var eps []cluster.EndpointConfig
	for _, a := range addrs {
		eps = append(eps, cluster.EndpointConfig{Address: a})
	}
	set, err := cluster.NewSet([]cluster.Config{{Name: "up", LB: cluster.LBRoundRobin, Endpoints: eps, RetryBudget: budget}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	rt.Store(&State{Version: "1", Routes: tbl, Clusters: set})
	t.Cleanup(func() { cluster.Retire(rt.Load().Clusters, nil) })
	return rt
}

// countingUpstream answers with code(n) for its n-th request (from 0).
func countingUpstream(t *testing.T, code func(n int64, r *http.Request) int) (string, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c := code(n.Add(1)-1, r)
		w.Header().Set("X-Body", string(body))
		w.WriteHeader(c)
		fmt.Fprint(w, c)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), &n
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func startRetryProxy(t *testing.T, rt *Runtime) (string, *telemetry.ProxyMetrics) {
	t.Helper()
	m := telemetry.NewProxyMetrics(prometheus.NewRegistry())
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt, Metrics: m,
		HeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second, RequestTimeout: 5 * time.Second})
	return serveEngine(t, h), m
}

func proxyClient(addr string) *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		},
	}}
}

// load sends n requests of method with body and returns how many did not
// get a 200.
func load(t *testing.T, c *http.Client, n int, method, body string) (failed int) {
	t.Helper()
	for range n {
		req, _ := http.NewRequest(method, "http://svc/x", strings.NewReader(body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			failed++
		}
	}
	return failed
}

func TestHTTP1RetryHidesFlakyInstance(t *testing.T) {
	t.Parallel()
	flaky, _ := countingUpstream(t, func(n int64, _ *http.Request) int { return []int{200, 503}[n%2] })
	good, _ := countingUpstream(t, func(int64, *http.Request) int { return 200 })
	addr, m := startRetryProxy(t, retryRuntime(t, []string{flaky, good}, &retry.Policy{On: retry.GatewayError, Attempts: 2}, retry.BudgetConfig{}))
	if failed := load(t, proxyClient(addr), 400, "GET", ""); failed != 0 {
		t.Fatalf("%d of 400 requests failed with retries on, want 0", failed)
	}
	if n := m.Retries("up", "status"); n < 50 {
		t.Fatalf("retries counted = %d, want about 100", n)
	}
}

func TestHTTP1DeadInstanceRetriedByDefault(t *testing.T) {
	t.Parallel()
	good, hits := countingUpstream(t, func(int64, *http.Request) int { return 200 })
	addr, m := startRetryProxy(t, retryRuntime(t, []string{closedPort(t), good}, nil, retry.BudgetConfig{}))
	// A POST too: a connect failure sent nothing, so any method may move.
	failed := load(t, proxyClient(addr), 50, "GET", "") + load(t, proxyClient(addr), 50, "POST", "payload")
	if failed != 0 {
		t.Fatalf("%d of 100 requests failed with one instance dead, want 0", failed)
	}
	if hits.Load() != 100 || m.Retries("up", "connect-failure") == 0 {
		t.Fatalf("live instance saw %d requests, retries %d", hits.Load(), m.Retries("up", "connect-failure"))
	}
}

func TestHTTP1RetryIdempotencyAndBody(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, method, body string
		anyMethod          bool
		want               int64
	}{
		{"GET retried", "GET", "", false, 4},
		{"PUT body replayed", "PUT", "put-body", false, 4},
		{"POST not retried", "POST", "post-body", false, 1},
		{"POST retried when the route allows", "POST", "post-body", true, 4},
		{"body over the cap not retried", "PUT", strings.Repeat("b", retry.BodyCap+1), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var bad atomic.Int64
			up, hits := countingUpstream(t, func(_ int64, r *http.Request) int {
				if r.ContentLength != int64(len(tt.body)) {
					bad.Add(1)
				}
				return 503
			})
			pol := &retry.Policy{On: retry.FiveXX, Attempts: 3, BackoffBase: time.Millisecond, AnyMethod: tt.anyMethod}
			addr, _ := startRetryProxy(t, retryRuntime(t, []string{up}, pol, retry.BudgetConfig{}))
			if failed := load(t, proxyClient(addr), 1, tt.method, tt.body); failed != 1 {
				t.Fatal("the last 503 was not relayed")
			}
			if hits.Load() != tt.want || bad.Load() != 0 {
				t.Fatalf("upstream tries = %d (bodies damaged %d), want %d", hits.Load(), bad.Load(), tt.want)
			}
		})
	}
}

func TestHTTP1RetryStormStaysInBudget(t *testing.T) {
	t.Parallel()
	down := func(int64, *http.Request) int { return 503 }
	a, hitsA := countingUpstream(t, down)
	b, hitsB := countingUpstream(t, down)
	pol := &retry.Policy{On: retry.FiveXX, Attempts: 3, BackoffBase: time.Microsecond}
	addr, _ := startRetryProxy(t, retryRuntime(t, []string{a, b}, pol, retry.BudgetConfig{Percent: 20, MinPerSecond: 1}))
	const n = 300
	load(t, proxyClient(addr), n, "GET", "")
	// Unbounded, 3 retries each would be 1200 tries: the budget allows
	// 20 % of 300 plus 1/s over the 10 s window.
	tries := hitsA.Load() + hitsB.Load()
	if limit := int64(n + n*20/100 + 10); tries > limit || tries < n {
		t.Fatalf("upstream tries = %d for %d requests, want %d..%d", tries, n, n, limit)
	}
}

func TestHTTP1PerTryTimeout(t *testing.T) {
	t.Parallel()
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	}))
	t.Cleanup(slow.Close)
	const perTry = 400 * time.Millisecond
	rt := retryRuntime(t, []string{slow.Listener.Addr().String()}, &retry.Policy{On: retry.GatewayError, PerTryTimeout: perTry}, retry.BudgetConfig{})
	addr, _ := startRetryProxy(t, rt)
	c := proxyClient(addr)
	began := time.Now()
	resp, err := c.Get("http://svc/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	took := time.Since(began)
	if resp.StatusCode != 504 || resp.Header.Get(telemetry.ResponseFlagsHeader) != "UT" {
		t.Fatalf("got %d %q, want 504 UT", resp.StatusCode, resp.Header.Get(telemetry.ResponseFlagsHeader))
	}
	if took < perTry*9/10 || took > perTry*11/10 {
		t.Fatalf("per-try timeout fired after %v, want %v ± 10 %%", took, perTry)
	}
	// With a retry, the request moves on to a fast instance in time.
	fast, _ := countingUpstream(t, func(int64, *http.Request) int { return 200 })
	rt2 := retryRuntime(t, []string{slow.Listener.Addr().String(), fast}, &retry.Policy{On: retry.GatewayError, Attempts: 1, PerTryTimeout: perTry}, retry.BudgetConfig{})
	addr2, _ := startRetryProxy(t, rt2)
	if failed := load(t, proxyClient(addr2), 4, "GET", ""); failed != 0 {
		t.Fatalf("%d of 4 requests failed with a retry after the per-try timeout", failed)
	}
}

func TestHTTP1PeerConnectFailureRetriedByDefault(t *testing.T) {
	t.Parallel()
	// A peer sidecar whose app died answers 502 with the flag UF.
	deadApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(telemetry.ResponseFlagsHeader, "UF")
		w.WriteHeader(502)
	}))
	t.Cleanup(deadApp.Close)
	good, _ := countingUpstream(t, func(int64, *http.Request) int { return 200 })
	addr, _ := startRetryProxy(t, retryRuntime(t, []string{deadApp.Listener.Addr().String(), good}, nil, retry.BudgetConfig{}))
	if failed := load(t, proxyClient(addr), 50, "GET", ""); failed != 0 {
		t.Fatalf("%d of 50 requests failed with one peer's app dead, want 0", failed)
	}
	// A POST's claim from a peer not proven by mTLS is not believed.
	if failed := load(t, proxyClient(addr), 10, "POST", ""); failed == 0 {
		t.Fatal("a POST was moved on an unauthenticated peer's word")
	}
	// A peer whose app dropped the connection before answering (UC): an
	// idempotent request without a body moves too.
	lostApp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(telemetry.ResponseFlagsHeader, "UC")
		w.WriteHeader(502)
	}))
	t.Cleanup(lostApp.Close)
	addr2, _ := startRetryProxy(t, retryRuntime(t, []string{lostApp.Listener.Addr().String(), good}, nil, retry.BudgetConfig{}))
	if failed := load(t, proxyClient(addr2), 50, "GET", ""); failed != 0 {
		t.Fatalf("%d of 50 GETs failed with one peer's app dropping connections, want 0", failed)
	}
}

func TestHTTP1RetryAfterHonouredWithinBound(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		bound  time.Duration
		status int
	}{
		{"within the bound: waited, then retried", 2 * time.Second, 200},
		{"past the bound: the 503 is returned at once", 500 * time.Millisecond, 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var n atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if n.Add(1) == 1 {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(503)
					return
				}
			}))
			t.Cleanup(srv.Close)
			pol := &retry.Policy{On: retry.GatewayError, Attempts: 1, RetryAfterMax: tc.bound}
			addr, _ := startRetryProxy(t, retryRuntime(t, []string{srv.Listener.Addr().String()}, pol, retry.BudgetConfig{}))
			began := time.Now()
			resp, err := proxyClient(addr).Get("http://svc/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			took := time.Since(began)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == 200 && (took < time.Second || took > 1500*time.Millisecond) {
				t.Fatalf("retried after %v, want Retry-After's 1s", took)
			}
			if tc.status == 503 && took > 500*time.Millisecond {
				t.Fatalf("answered after %v, want at once", took)
			}
		})
	}
}

package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/mirror"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// seenReq is what an upstream received.
type seenReq struct{ host, target, body, hdr string }

type urlRecorder struct {
	mu   sync.Mutex
	reqs []seenReq
	ch   chan struct{}
}

func newURLRecorder() *urlRecorder { return &urlRecorder{ch: make(chan struct{}, 1000)} }

func (rc *urlRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, seenReq{r.Host, r.RequestURI, string(b), r.Header.Get("X-Set")})
	rc.mu.Unlock()
	rc.ch <- struct{}{}
	io.WriteString(w, "ok")
}

func (rc *urlRecorder) wait(t *testing.T) seenReq {
	t.Helper()
	select {
	case <-rc.ch:
	case <-time.After(5 * time.Second):
		t.Fatal("no request arrived")
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.reqs[len(rc.reqs)-1]
}

func (rc *urlRecorder) count() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return len(rc.reqs)
}

// urlRuntime routes host catalog through r to cluster up, with a second
// cluster shadow for mirrors.
func urlRuntime(t *testing.T, up, shadow string, proto cluster.Protocol, r route.Route) *Runtime {
	t.Helper()
	r.Name = "r"
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []route.Route{r}}}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := cluster.NewSet([]cluster.Config{
		{Name: "up", Protocol: proto, Endpoints: []cluster.EndpointConfig{{Address: up}}},
		{Name: "shadow", Protocol: proto, Endpoints: []cluster.EndpointConfig{{Address: shadow}}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	rt.Store(&State{Version: "1", Routes: tbl, Clusters: set})
	t.Cleanup(func() { cluster.Retire(rt.Load().Clusters, nil) })
	return rt
}

var engineCases = []struct {
	name               string
	h2Engine, h2Upstrm bool
}{
	{name: "h1 engine, h1 upstream"},
	{name: "h1 engine, h2 upstream (bridge)", h2Upstrm: true},
	{name: "h2 engine, h1 upstream", h2Engine: true},
	{name: "h2 engine, h2 upstream", h2Engine: true, h2Upstrm: true},
}

func urlUpstream(t *testing.T, h http.Handler, h2 bool) (string, cluster.Protocol) {
	if h2 {
		return h2cUpstream(t, h.ServeHTTP), cluster.HTTP2
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), cluster.HTTP1
}

func engine(t *testing.T, h2 bool, rt *Runtime, m *mirror.Sender, met *telemetry.ProxyMetrics) (string, *http.Client) {
	c := &http.Client{Timeout: 5 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if h2 {
		hc := h2cClient()
		hc.CheckRedirect = c.CheckRedirect
		return serveEngine(t, NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: rt, Mirror: m, Metrics: met})), hc
	}
	return serveEngine(t, NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt, Mirror: m, Metrics: met})), c
}

func TestURLRewrite(t *testing.T) {
	for _, tc := range engineCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newURLRecorder()
			up, proto := urlUpstream(t, rec, tc.h2Upstrm)
			rt := urlRuntime(t, up, up, proto, route.Route{
				Match:    route.Match{Path: route.PathMatch{Kind: route.PathPrefix, Value: "/foo"}},
				Backends: []route.Backend{{Cluster: "up"}},
				Rewrite:  &route.Rewrite{Host: "new.example", Path: &route.PathRewrite{Prefix: "/bar"}},
			})
			addr, c := engine(t, tc.h2Engine, rt, nil, nil)
			for path, want := range map[string]string{"/foo/x?q=1": "/bar/x?q=1", "/foo": "/bar"} {
				req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
				req.Host = "catalog"
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := rec.wait(t)
				if got.target != want || got.host != "new.example" || resp.StatusCode != 200 {
					t.Errorf("%s: upstream saw %s %s (status %d), want %s new.example", path, got.host, got.target, resp.StatusCode, want)
				}
			}
		})
	}
}

func TestRedirectAnsweredByProxy(t *testing.T) {
	for _, tc := range engineCases {
		t.Run(tc.name, func(t *testing.T) {
			rec := newURLRecorder()
			up, proto := urlUpstream(t, rec, tc.h2Upstrm)
			rt := urlRuntime(t, up, up, proto, route.Route{
				Match:    route.Match{Path: route.PathMatch{Kind: route.PathPrefix, Value: "/old"}},
				Redirect: &route.Redirect{Scheme: "https", Host: "docs.example", Path: &route.PathRewrite{Prefix: "/new"}, Code: 308},
			})
			addr, c := engine(t, tc.h2Engine, rt, nil, nil)
			req, _ := http.NewRequest("POST", "http://"+addr+"/old/page?a=b", strings.NewReader("body"))
			req.Host = "catalog:8080"
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 308 || resp.Header.Get("Location") != "https://docs.example/new/page?a=b" || len(b) != 0 {
				t.Errorf("got %d Location %q body %q", resp.StatusCode, resp.Header.Get("Location"), b)
			}
			if f := resp.Header.Get(telemetry.ResponseFlagsHeader); f != "" {
				t.Errorf("flags %q on a redirect, want none (Envoy sets none)", f)
			}
			if n := rec.count(); n != 0 {
				t.Errorf("upstream got %d requests, want none", n)
			}
		})
	}
}

func TestMirror(t *testing.T) {
	for _, tc := range engineCases {
		t.Run(tc.name, func(t *testing.T) {
			prim, shadow := newURLRecorder(), newURLRecorder()
			up, proto := urlUpstream(t, prim, tc.h2Upstrm)
			sh, _ := urlUpstream(t, shadow, tc.h2Upstrm)
			rt := urlRuntime(t, up, sh, proto, route.Route{
				Backends:       []route.Backend{{Cluster: "up"}},
				RequestHeaders: &route.HeaderMods{Set: []route.HeaderValue{{Name: "x-set", Value: "v"}}},
				Mirrors:        []route.Mirror{{Cluster: "shadow"}},
			})
			met := telemetry.NewProxyMetrics(prometheus.NewRegistry())
			addr, c := engine(t, tc.h2Engine, rt, nil, met)
			req, _ := http.NewRequest("POST", "http://"+addr+"/p?q=1", strings.NewReader("payload"))
			req.Host = "catalog:80"
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(b) != "ok" {
				t.Fatalf("primary %d %q", resp.StatusCode, b)
			}
			if p := prim.wait(t); p.body != "payload" || p.host != "catalog:80" {
				t.Errorf("primary saw %+v", p)
			}
			s := shadow.wait(t)
			if s.host != "catalog-shadow:80" || s.target != "/p?q=1" || s.body != "payload" || s.hdr != "v" {
				t.Errorf("shadow saw %+v, want Host catalog-shadow:80, the body and the edited headers", s)
			}
			waitFor(t, func() bool { return met.Mirrors(mirror.Sent) == 1 })
		})
	}
}

// A mirror target that accepts connections and never answers, and one
// that is down, neither delay nor fail the primary; the bound drops what
// does not fit and the timeout frees the slots.
func TestMirrorNeverHoldsThePrimary(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accept and say nothing
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()
	for name, target := range map[string]string{"silent": ln.Addr().String(), "down": deadAddr} {
		t.Run(name, func(t *testing.T) {
			prim := newURLRecorder()
			up, _ := urlUpstream(t, prim, false)
			rt := urlRuntime(t, up, target, cluster.HTTP1, route.Route{
				Backends: []route.Backend{{Cluster: "up"}}, Mirrors: []route.Mirror{{Cluster: "shadow"}},
			})
			met := telemetry.NewProxyMetrics(prometheus.NewRegistry())
			ms := mirror.New(mirror.Config{MaxInFlight: 4, Timeout: 300 * time.Millisecond, Observe: met.Mirror})
			addr, c := engine(t, false, rt, ms, met)
			for i := 0; i < 20; i++ {
				start := time.Now()
				resp, err := c.Get("http://" + addr + "/")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if d := time.Since(start); resp.StatusCode != 200 || d > 200*time.Millisecond {
					t.Fatalf("primary %d in %v", resp.StatusCode, d)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := ms.Wait(ctx); err != nil {
				t.Fatal(err)
			}
			sent, dropped, failed := met.Mirrors(mirror.Sent), met.Mirrors(mirror.Dropped), met.Mirrors(mirror.Failed)
			if sent != 0 || dropped+failed != 20 || name == "silent" && dropped == 0 {
				t.Errorf("sent %d dropped %d failed %d", sent, dropped, failed)
			}
		})
	}
}

// Bodies over the cap are not copied; the primary still gets them whole.
func TestMirrorSkipsLargeBodies(t *testing.T) {
	prim, shadow := newURLRecorder(), newURLRecorder()
	up, _ := urlUpstream(t, prim, false)
	sh, _ := urlUpstream(t, shadow, false)
	rt := urlRuntime(t, up, sh, cluster.HTTP1, route.Route{Backends: []route.Backend{{Cluster: "up"}}, Mirrors: []route.Mirror{{Cluster: "shadow"}}})
	met := telemetry.NewProxyMetrics(prometheus.NewRegistry())
	addr, c := engine(t, false, rt, nil, met)
	big := strings.Repeat("x", mirror.BodyCap+1)
	resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader(big))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if p := prim.wait(t); len(p.body) != len(big) {
		t.Errorf("primary got %d bytes", len(p.body))
	}
	if met.Mirrors(mirror.Dropped) != 1 || shadow.count() != 0 {
		t.Errorf("dropped %d, shadow got %d", met.Mirrors(mirror.Dropped), shadow.count())
	}
}

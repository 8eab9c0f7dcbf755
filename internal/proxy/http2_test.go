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

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// newRuntime routes every host to one cluster with one endpoint.
func newRuntime(t *testing.T, addr string, proto cluster.Protocol, timeout time.Duration) *Runtime {
	t.Helper()
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{
		Name: "all", Domains: []string{"*"},
		Routes: []route.Route{{Name: "r", Timeout: timeout, Backends: []route.Backend{{Cluster: "up"}}}},
	}}})
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

// serveEngine accepts on loopback and hands each connection to h.
func serveEngine(t *testing.T, h interface {
	ServeConn(context.Context, net.Conn)
	Shutdown(context.Context) error
}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				h.ServeConn(context.Background(), c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		wg.Wait()
	})
	return ln.Addr().String()
}

func h2cClient() *http.Client {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true) // prior knowledge: http:// URLs speak HTTP/2
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: &protos}}
}

func TestHTTP2ToHTTP1Upstream(t *testing.T) {
	var got *http.Request
	var body string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		b, _ := io.ReadAll(r.Body)
		body = string(b)
		w.Header().Set("X-Up", "1")
		w.Write([]byte("hello from h1"))
	}))
	defer up.Close()
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: newRuntime(t, up.Listener.Addr().String(), cluster.HTTP1, 0)})
	addr := serveEngine(t, h)
	c := h2cClient()
	for i := 0; i < 3; i++ { // the second and third reuse the pooled H1 connection
		req, _ := http.NewRequest("POST", "http://catalog/a/../items?x=1", strings.NewReader("payload"))
		req.Header.Set("Connection-Less", "kept")
		req.Header.Set("X-Weft-Identity", "spoofed")
		req.URL.Host = addr
		req.Host = "catalog"
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != "hello from h1" || resp.Header.Get("X-Up") != "1" {
			t.Fatalf("status %d body %q", resp.StatusCode, b)
		}
	}
	if got.URL.RequestURI() != "/items?x=1" || got.Host != "catalog" || body != "payload" {
		t.Fatalf("upstream saw %s %s host %s body %q", got.Method, got.URL.RequestURI(), got.Host, body)
	}
	if got.Header.Get("X-Weft-Identity") != "" || got.Header.Get("X-Request-Id") == "" || got.Header.Get("X-Forwarded-For") != "127.0.0.1" {
		t.Fatalf("upstream headers %v", got.Header)
	}
}

func TestHTTP2ToHTTP2UpstreamWithTrailers(t *testing.T) {
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			t.Errorf("upstream got HTTP/%d", r.ProtoMajor)
		}
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write([]byte("streamed"))
		w.Header().Set("Grpc-Status", "0")
	}))
	up.EnableHTTP2 = true
	up.Config.Protocols = new(http.Protocols)
	up.Config.Protocols.SetUnencryptedHTTP2(true)
	up.Start()
	defer up.Close()
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, up.Listener.Addr().String(), cluster.HTTP2, 0)})
	addr := serveEngine(t, h)
	resp, err := h2cClient().Get("http://" + addr + "/svc/Method")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "streamed" || resp.Trailer.Get("Grpc-Status") != "0" {
		t.Fatalf("body %q trailer %v", b, resp.Trailer)
	}
}

func TestHTTP2Errors(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	h := NewHTTP2(HTTP2Config{Name: "t", Runtime: newRuntime(t, slow.Listener.Addr().String(), cluster.HTTP1, 100*time.Millisecond)})
	addr := serveEngine(t, h)
	c := h2cClient()
	resp, err := c.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("status %d, want 504", resp.StatusCode)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/pkg.Svc/M", nil)
	req.Header.Set("Content-Type", "application/grpc")
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Grpc-Status") != "4" {
		t.Fatalf("grpc timeout: status %d grpc-status %q", resp.StatusCode, resp.Header.Get("Grpc-Status"))
	}
	resp, err = c.Get("http://" + addr + "/a%2Fb")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("encoded slash: status %d, want 400", resp.StatusCode)
	}
}

func TestGRPCTimeoutParse(t *testing.T) {
	for in, want := range map[string]time.Duration{"1S": time.Second, "500m": 500 * time.Millisecond, "100u": 100 * time.Microsecond, "2H": 2 * time.Hour} {
		if d, ok := grpcTimeout(in); !ok || d != want {
			t.Errorf("grpcTimeout(%q) = %v %v", in, d, ok)
		}
	}
	for _, in := range []string{"", "S", "1", "123456789S", "1x", "-1S"} {
		if _, ok := grpcTimeout(in); ok {
			t.Errorf("grpcTimeout(%q) accepted", in)
		}
	}
}

// TestGRPCTimeoutClamp: the spec allows 8 digits of hours, which overflow
// a time.Duration; they used to wrap negative and expire the request at once.
func TestGRPCTimeoutClamp(t *testing.T) {
	for _, in := range []string{"70000000H", "99999999H", "3000000H"} {
		d, ok := grpcTimeout(in)
		if !ok || d != maxGRPCTimeout {
			t.Errorf("grpcTimeout(%q) = %v %v, want the clamp %v", in, d, ok, maxGRPCTimeout)
		}
	}
	if d, ok := grpcTimeout("2562047H"); !ok || d != 2562047*time.Hour {
		t.Errorf("grpcTimeout(2562047H) = %v %v, want it exact (it fits)", d, ok)
	}
}

func FuzzGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1S", "99999999n", "70000000H", "99999999M", "0m", "12u"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := grpcTimeout(s)
		if !ok {
			return
		}
		if d < 0 {
			t.Fatalf("%q -> negative %v", s, d)
		}
		// A larger count of the same unit never gives a shorter timeout.
		if len(s) < 9 {
			if d2, ok2 := grpcTimeout("9" + s); !ok2 || d2 < d {
				t.Fatalf("%q -> %v but 9%s -> %v %v", s, d, s, d2, ok2)
			}
		}
	})
}

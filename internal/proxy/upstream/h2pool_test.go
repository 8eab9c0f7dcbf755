package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// h2cServer serves HTTP/2 with prior knowledge only: a client that spoke
// HTTP/1.1 first would be refused.
func h2cServer(t *testing.T, h http.HandlerFunc, maxStreams int) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &p
	srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: maxStreams}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, p *H2Pool, path string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://svc"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := p.RoundTrip(req)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestH2PoolPriorKnowledge(t *testing.T) {
	srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
	}, 0)
	p := NewH2Pool(Config{Addr: srv.Listener.Addr().String()})
	defer p.Close()
	resp, err := get(t, p, "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || resp.Header.Get("X-Proto") != "HTTP/2.0" {
		t.Fatalf("spoke %s, server saw %q; want HTTP/2 both ways", resp.Proto, resp.Header.Get("X-Proto"))
	}
}

func tlsUpstream(t *testing.T, h2 bool) (*httptest.Server, *tls.Config) {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Proto", r.Proto)
	}))
	srv.EnableHTTP2 = h2
	srv.StartTLS()
	t.Cleanup(srv.Close)
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	return srv, &tls.Config{RootCAs: roots, ServerName: "example.com"}
}

func TestH2PoolTLSNegotiatesH2(t *testing.T) {
	srv, tc := tlsUpstream(t, true)
	p := NewH2Pool(Config{Addr: srv.Listener.Addr().String(), TLS: tc})
	defer p.Close()
	resp, err := get(t, p, "/")
	if err != nil {
		t.Fatal(err)
	}
	if resp.ProtoMajor != 2 || resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Fatalf("spoke %s (tls %v); want h2 over TLS", resp.Proto, resp.TLS != nil)
	}
}

// A TLS peer that offers no ALPN at all completes the handshake: the pool
// must refuse it rather than speak HTTP/2 to an HTTP/1.1 server.
func TestH2PoolRefusesPeerWithoutH2(t *testing.T) {
	donor, tc := tlsUpstream(t, false) // for its certificate
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: donor.TLS.Certificates})
	if err != nil {
		t.Fatal(err)
	}
	h1 := &http.Server{Handler: http.NotFoundHandler(), ReadHeaderTimeout: 5 * time.Second}
	go h1.Serve(ln)
	t.Cleanup(func() { h1.Close() })
	p := NewH2Pool(Config{Addr: ln.Addr().String(), TLS: tc})
	defer p.Close()
	_, err = get(t, p, "/")
	if err == nil || !strings.Contains(err.Error(), "did not negotiate h2") {
		t.Fatalf("got %v; want the dial refused for want of h2", err)
	}
}

// A peer's stream limit opens another connection rather than queueing
// requests behind the busy one.
func TestH2PoolOpensConnectionAtStreamLimit(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	seen := map[string]bool{} // remote addresses of the blocked requests
	srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/block" {
			return
		}
		mu.Lock()
		seen[r.RemoteAddr] = true
		mu.Unlock()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}, 1)
	p := NewH2Pool(Config{Addr: srv.Listener.Addr().String()})
	defer p.Close()
	// One request first, so the client has the server's SETTINGS (limit 1).
	if _, err := get(t, p, "/"); err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			req, _ := http.NewRequest(http.MethodGet, "http://svc/block", nil)
			resp, err := p.RoundTrip(req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(seen)
		mu.Unlock()
		if n == 2 {
			break
		}
		if time.Now().After(deadline) {
			close(release)
			t.Fatalf("%d connection(s) carried the two concurrent requests; want 2", n)
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a deadline
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// Response headers are capped at 64 KiB: a larger list fails the request
// instead of being buffered (the transport's default is 10 MiB).
func TestH2PoolCapsResponseHeaders(t *testing.T) {
	srv := h2cServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := 1 << 10
		if r.URL.Path == "/big" {
			n = 80 << 10
		}
		w.Header().Set("X-Fill", strings.Repeat("a", n))
	}, 0)
	p := NewH2Pool(Config{Addr: srv.Listener.Addr().String()})
	defer p.Close()
	if _, err := get(t, p, "/small"); err != nil {
		t.Fatalf("small header list: %v", err)
	}
	if resp, err := get(t, p, "/big"); err == nil {
		t.Fatalf("80 KiB header list accepted (X-Fill %d bytes); want an error", len(resp.Header.Get("X-Fill")))
	}
}

// BenchmarkH2PoolRoundTrip measures one multiplexed request to an h2c
// upstream on loopback (client and server CPU both count).
func BenchmarkH2PoolRoundTrip(b *testing.B) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv.Config.Protocols = &protos
	srv.Start()
	defer srv.Close()
	p := NewH2Pool(Config{Addr: srv.Listener.Addr().String()})
	defer p.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://svc/", nil)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := p.RoundTrip(req)
			if err != nil {
				b.Error(err)
				return
			}
			resp.Body.Close()
		}
	})
}

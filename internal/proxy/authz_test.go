package proxy

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// serveTLS accepts on loopback, completes the TLS handshake, and hands the
// *tls.Conn itself to h, as inbound mTLS does.
func serveTLS(t *testing.T, h interface {
	ServeConn(context.Context, net.Conn)
	Shutdown(context.Context) error
}, cfg *tls.Config) string {
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
				tc := tls.Server(c, cfg)
				defer tc.Close()
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := tc.HandshakeContext(ctx)
				cancel()
				if err != nil {
					return
				}
				h.ServeConn(context.Background(), tc)
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

// withAuthz swaps a state carrying cfg's table into rt.
func withAuthz(t *testing.T, rt *Runtime, cfg authz.Config) {
	t.Helper()
	tb, err := authz.Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	next := *rt.Load()
	next.Authz = tb
	rt.Store(&next)
}

const (
	webID  = "spiffe://weft.local/ns/shop/sa/web"
	evilID = "spiffe://weft.local/ns/shop/sa/evil"
)

// allowWebOnly is what translate makes of an ALLOW policy for web.
func allowWebOnly() authz.Config {
	return authz.Config{Filters: []authz.Filter{{Action: authz.Allow, Policies: []authz.Policy{{
		Name: "shop/allow-web/rules[0]", Permissions: []authz.Permission{{Any: true}},
		Principals: []authz.Principal{{Authenticated: &authz.Authenticated{Name: &authz.StringMatch{Value: webID}}}},
	}}}}}
}

// rawTLS sends raw over a TLS connection presenting id ("" none) and
// reads the response head and body.
func rawTLS(t *testing.T, pki *testPKI, addr, id, raw string) *http.Response {
	t.Helper()
	c, err := tls.Dial("tcp", addr, pki.clientConfig(t, id))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

func bodyOf(r *http.Response) string {
	b, _ := io.ReadAll(r.Body)
	return string(b)
}

// The caller's identity is the verified certificate: web is allowed, any
// other identity and a plaintext caller are denied with 403, the RBAC
// flag, a request id and the count, and the app sees none of them.
func TestAuthzHTTP1ByPeerCertificate(t *testing.T) {
	pki := newTestPKI(t)
	rec := newRecorder(t)
	reg := prometheus.NewRegistry()
	metrics := telemetry.NewProxyMetrics(reg)
	rt := newRuntime(t, rec.addr(), cluster.HTTP1, 0)
	withAuthz(t, rt, allowWebOnly())
	h := NewHTTP1(HTTP1Config{Name: "in", Direction: "inbound", Runtime: rt, Metrics: metrics})
	addr := serveTLS(t, h, pki.serverConfig(t))

	ok := rawTLS(t, pki, addr, webID, "GET /items HTTP/1.1\r\nHost: catalog\r\n\r\n")
	if ok.StatusCode != 200 {
		t.Fatalf("web: %d %s", ok.StatusCode, bodyOf(ok))
	}
	for _, id := range []string{evilID, ""} {
		r := rawTLS(t, pki, addr, id, "GET /items HTTP/1.1\r\nHost: catalog\r\nX-Request-Id: abc-123\r\n\r\n")
		if r.StatusCode != 403 || r.Header.Get(telemetry.ResponseFlagsHeader) != "RBAC" || r.Header.Get("X-Request-Id") != "abc-123" {
			t.Fatalf("%q: %d flags %q id %q", id, r.StatusCode, r.Header.Get(telemetry.ResponseFlagsHeader), r.Header.Get("X-Request-Id"))
		}
		if b := bodyOf(r); !strings.Contains(b, `"none"`) || !strings.Contains(b, "(RBAC)") {
			t.Fatalf("body %q", b)
		}
	}
	// A generated id when the client sent none (or an unsafe one).
	r := rawTLS(t, pki, addr, evilID, "GET /items HTTP/1.1\r\nHost: catalog\r\n\r\n")
	if len(r.Header.Get("X-Request-Id")) != 32 {
		t.Fatalf("generated request id %q", r.Header.Get("X-Request-Id"))
	}
	if n := len(rec.requests()); n != 1 {
		t.Fatalf("the app saw %d requests, want only web's", n)
	}
	if got := deniedCount(t, reg, "none"); got != 3 {
		t.Fatalf("weft_authz_denied_total{policy=none} = %v, want 3", got)
	}
}

// deniedCount reads weft_authz_denied_total{policy} from the registry.
func deniedCount(t *testing.T, reg *prometheus.Registry, policy string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "weft_authz_denied_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "policy" && l.GetValue() == policy {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Identity headers a client sends never grant an identity: with a policy
// that allows only web, a plaintext or evil caller claiming to be web in
// every header meshes and proxies use is still denied.
func TestAuthzIdentityHeadersNeverGrant(t *testing.T) {
	pki := newTestPKI(t)
	rec := newRecorder(t)
	rt := newRuntime(t, rec.addr(), cluster.HTTP1, 0)
	withAuthz(t, rt, allowWebOnly())
	for _, trust := range []bool{false, true} {
		h := NewHTTP1(HTTP1Config{Name: "in", Direction: "inbound", Runtime: rt, TrustForwarded: trust})
		tlsAddr := serveTLS(t, h, pki.serverConfig(t))
		plainAddr := serveEngine(t, NewHTTP1(HTTP1Config{Name: "in", Direction: "inbound", Runtime: rt, TrustForwarded: trust}))
		spoof := "GET / HTTP/1.1\r\nHost: catalog\r\n" +
			"X-Forwarded-Client-Cert: By=spiffe://weft.local/ns/shop/sa/catalog;URI=" + webID + "\r\n" +
			"X-Weft-Peer: " + webID + "\r\nX-Mesh-Identity: " + webID + "\r\nX-Spiffe-Id: " + webID + "\r\n" +
			"X-Client-Cert: " + webID + "\r\nX-Forwarded-User: " + webID + "\r\nConnection: close\r\n\r\n"
		r := rawTLS(t, pki, tlsAddr, evilID, spoof)
		if r.StatusCode != 403 {
			t.Fatalf("trustForwarded=%v evil with web's headers: %d", trust, r.StatusCode)
		}
		out, _ := exchange(t, plainAddr, spoof)
		if !strings.HasPrefix(out, "HTTP/1.1 403") {
			t.Fatalf("trustForwarded=%v plaintext with web's headers: %q", trust, out)
		}
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("the app saw %d requests", n)
	}
}

// HTTP/2 and gRPC over mTLS: web passes, evil gets 403 RBAC, and a gRPC
// call from evil gets grpc-status 7 PERMISSION_DENIED.
func TestAuthzHTTP2AndGRPC(t *testing.T) {
	pki := newTestPKI(t)
	up := h2Upstream(t)
	rt := newRuntime(t, up, cluster.HTTP2, 0)
	withAuthz(t, rt, allowWebOnly())
	h := NewHTTP2(HTTP2Config{Name: "in", Direction: "inbound", Runtime: rt})
	addr := serveTLS(t, h, pki.serverConfig(t, "h2"))
	client := func(id string) *http.Client {
		return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: pki.clientConfig(t, id, "h2"), ForceAttemptHTTP2: true}}
	}
	do := func(id string, grpc bool) *http.Response {
		req, _ := http.NewRequest("POST", "https://"+addr+"/pkg.Svc/Call", strings.NewReader("\x00\x00\x00\x00\x00"))
		req.Host = "catalog"
		if grpc {
			req.Header.Set("Content-Type", "application/grpc")
			req.Header.Set("TE", "trailers")
		}
		r, err := client(id).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
		if r.ProtoMajor != 2 {
			t.Fatalf("spoke HTTP/%d", r.ProtoMajor)
		}
		return r
	}
	if r := do(webID, false); r.StatusCode != 200 {
		t.Fatalf("web: %d", r.StatusCode)
	}
	if r := do(evilID, false); r.StatusCode != 403 || r.Header.Get(telemetry.ResponseFlagsHeader) != "RBAC" || r.Header.Get("X-Request-Id") == "" {
		t.Fatalf("evil: %d %v", r.StatusCode, r.Header)
	}
	r := do(evilID, true)
	status := r.Header.Get("Grpc-Status")
	if status == "" {
		status = r.Trailer.Get("Grpc-Status")
	}
	if r.StatusCode != 200 || status != "7" {
		t.Fatalf("evil gRPC: %d grpc-status %q", r.StatusCode, status)
	}
}

// h2Upstream is an h2c upstream answering 200.
func h2Upstream(t *testing.T) string {
	t.Helper()
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &protos, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Header.Get("Content-Type") == "application/grpc" {
			w.Header().Set("Content-Type", "application/grpc")
			w.Header().Set("Trailer", "Grpc-Status")
			w.WriteHeader(200)
			w.Header().Set("Grpc-Status", "0")
			return
		}
		fmt.Fprint(w, "ok")
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

package proxy

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// stateConn is a connection that shows a completed mTLS handshake, as the
// listener's *tls.Conn does.
type stateConn struct {
	net.Conn
	st tls.ConnectionState
}

func (c stateConn) ConnectionState() tls.ConnectionState { return c.st }

// TestXFCCFromVerifiedPeer: an inbound request on an mTLS connection
// reaches the app with the verified peer in X-Forwarded-Client-Cert, in
// Envoy's format; a caller's own copy is dropped even from a trusted
// downstream, and a plaintext connection carries none.
func TestXFCCFromVerifiedPeer(t *testing.T) {
	peer, _ := url.Parse("spiffe://weft.local/ns/default/sa/frontend")
	leaf := &x509.Certificate{Raw: []byte("leaf der"), URIs: []*url.URL{peer}}
	sum := sha256.Sum256(leaf.Raw)
	want := "By=spiffe://weft.local/ns/default/sa/catalog;Hash=" + hex.EncodeToString(sum[:]) + ";URI=" + peer.String()
	for _, tt := range []struct {
		name  string
		mtls  bool
		trust bool
		want  string
	}{
		{"mtls", true, false, want},
		{"mtls, trusted downstream", true, true, want},
		{"plaintext", false, true, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			h := NewHTTP1(HTTP1Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, rec.addr(), 0, 0),
				TrustForwarded: tt.trust, LocalID: func() string { return "spiffe://weft.local/ns/default/sa/catalog" },
				HeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second, RequestTimeout: 5 * time.Second})
			a, b := net.Pipe()
			defer b.Close()
			var c net.Conn = a
			if tt.mtls {
				c = stateConn{Conn: a, st: tls.ConnectionState{HandshakeComplete: true, PeerCertificates: []*x509.Certificate{leaf}}}
			}
			done := make(chan struct{})
			go func() { defer close(done); h.ServeConn(context.Background(), c); a.Close() }()
			b.SetDeadline(time.Now().Add(5 * time.Second))
			go io.WriteString(b, "GET / HTTP/1.1\r\nHost: catalog\r\nX-Forwarded-Client-Cert: By=spiffe://evil;URI=spiffe://weft.local/ns/default/sa/admin\r\nConnection: close\r\n\r\n")
			out, _ := io.ReadAll(b)
			<-done
			if !strings.Contains(string(out), " 200 ") {
				t.Fatalf("response %q", out)
			}
			reqs := rec.requests()
			if len(reqs) != 1 {
				t.Fatalf("%d requests reached the app", len(reqs))
			}
			if got := reqs[0].Header.Values("X-Forwarded-Client-Cert"); tt.want == "" && len(got) != 0 || tt.want != "" && (len(got) != 1 || got[0] != tt.want) {
				t.Errorf("X-Forwarded-Client-Cert %q, want %q", got, tt.want)
			}
		})
	}
}

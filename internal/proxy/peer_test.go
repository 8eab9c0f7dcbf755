package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/url"
	"testing"
)

func TestPeerIDFromState(t *testing.T) {
	id, _ := url.Parse("spiffe://weft.local/ns/default/sa/frontend")
	other, _ := url.Parse("https://example.com/x")
	cert := func(uris ...*url.URL) []*x509.Certificate { return []*x509.Certificate{{URIs: uris}} }
	for name, tc := range map[string]struct {
		st   *tls.ConnectionState
		want string
	}{
		"nil":            {nil, ""},
		"no handshake":   {&tls.ConnectionState{PeerCertificates: cert(id)}, ""},
		"no client cert": {&tls.ConnectionState{HandshakeComplete: true}, ""},
		"spiffe id":      {&tls.ConnectionState{HandshakeComplete: true, PeerCertificates: cert(id)}, id.String()},
		"not spiffe":     {&tls.ConnectionState{HandshakeComplete: true, PeerCertificates: cert(other)}, ""},
		"two uris":       {&tls.ConnectionState{HandshakeComplete: true, PeerCertificates: cert(id, id)}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			if got := PeerIDFromState(tc.st); got != tc.want {
				t.Fatalf("PeerIDFromState = %q, want %q", got, tc.want)
			}
		})
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if got := PeerID(a); got != "" {
		t.Fatalf("PeerID(plain conn) = %q, want empty", got)
	}
}

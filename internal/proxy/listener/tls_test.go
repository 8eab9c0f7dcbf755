package listener

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"
)

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "weft-test"},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TLS is terminated on the listener and ALPN picks the engine: this is the
// seam where inbound mTLS plugs in.
func TestTLSTerminationRoutesByALPN(t *testing.T) {
	cert := selfSigned(t)
	h1, h2 := &tagHandler{tag: "h1"}, &tagHandler{tag: "h2"}
	l := startListener(t, Config{Name: "t", HTTP1: h1, HTTP2: h2, TLS: &tls.Config{
		Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}, MinVersion: tls.VersionTLS12,
	}})
	for _, tt := range []struct{ alpn, want string }{{"h2", "h2:ping\n"}, {"http/1.1", "h1:ping\n"}, {"", "h1:ping\n"}} {
		cfg := &tls.Config{InsecureSkipVerify: true} // a throwaway self-signed test certificate
		if tt.alpn != "" {
			cfg.NextProtos = []string{tt.alpn}
		}
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", l.Addr().String(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(3 * time.Second))
		c.Write([]byte("ping"))
		got, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || got != tt.want {
			t.Errorf("alpn %q: got %q (%v), want %q", tt.alpn, got, err, tt.want)
		}
	}
}

func TestTLSHandshakeFailureClosesQuietly(t *testing.T) {
	cert := selfSigned(t)
	h := &tagHandler{tag: "h"}
	l := startListener(t, Config{Name: "t", HTTP1: h, HTTP2: h, HandshakeTimeout: 200 * time.Millisecond,
		TLS: &tls.Config{Certificates: []tls.Certificate{cert}}})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// A TLS record header, then silence: the handshake times out.
	c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x05})
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	buf := make([]byte, 64)
	for {
		if _, err := c.Read(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("stalled handshake not closed")
			}
			break
		}
	}
	if h.seen.Load() != 0 {
		t.Fatal("handler ran without a handshake")
	}
}

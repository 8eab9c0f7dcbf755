package proxy

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/url"
	"testing"
	"time"
)

// testPKI is a root CA that issues SPIFFE X.509-SVIDs: real certificates,
// so the tests run real mTLS handshakes and read identities the way the
// sidecar does (PeerID), never from headers.
type testPKI struct {
	root    *x509.Certificate
	rootKey *ecdsa.PrivateKey
	pool    *x509.CertPool
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &testPKI{root: root, rootKey: key, pool: pool}
}

// svid issues a leaf for the SPIFFE ID id (client and server use).
func (p *testPKI) svid(t testing.TB, id string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), URIs: []*url.URL{u},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.root, &key.PublicKey, p.rootKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// serverConfig verifies a client certificate when one is sent (so the
// same listener serves peers with and without an identity).
func (p *testPKI) serverConfig(t testing.TB, protos ...string) *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{p.svid(t, "spiffe://weft.local/ns/shop/sa/catalog")},
		ClientCAs: p.pool, ClientAuth: tls.VerifyClientCertIfGiven, NextProtos: protos, MinVersion: tls.VersionTLS13}
}

func (p *testPKI) clientConfig(t testing.TB, id string, protos ...string) *tls.Config {
	cfg := &tls.Config{RootCAs: p.pool, NextProtos: protos, MinVersion: tls.VersionTLS13, ServerName: "127.0.0.1"}
	if id != "" {
		cfg.Certificates = []tls.Certificate{p.svid(t, id)}
	}
	return cfg
}

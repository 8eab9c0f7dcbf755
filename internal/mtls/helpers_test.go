package mtls

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net/url"
	"testing"
	"time"
)

// testCA is a root of one trust domain that mints leaves for tests.
type testCA struct {
	td   string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newCA(t testing.TB, td string) *testCA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: td + " root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		URIs: []*url.URL{{Scheme: "spiffe", Host: td}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &testCA{td: td, cert: c, key: key}
}

// leafOpts shape a leaf; the zero value is a good SVID.
type leafOpts struct {
	dnsOnly   bool // the SPIFFE ID in a DNS SAN instead of the URI SAN
	eku       []x509.ExtKeyUsage
	notBefore time.Time
	notAfter  time.Time
}

var serial int64 = 100

func (ca *testCA) leaf(t testing.TB, path string, o leafOpts) *SVID {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id := "spiffe://" + ca.td + path
	serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: path},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	if o.eku != nil {
		tmpl.ExtKeyUsage = o.eku
	}
	if !o.notBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = o.notBefore, o.notAfter
	}
	if o.dnsOnly {
		tmpl.DNSNames = []string{id}
	} else {
		u, _ := url.Parse(id)
		tmpl.URIs = []*url.URL{u}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &SVID{Certificate: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: c}, ID: id, Bundle: []*x509.Certificate{ca.cert}}
}

// withBundle is s verified against roots.
func withBundle(s *SVID, roots ...*testCA) *SVID {
	n := *s
	n.Bundle = nil
	for _, r := range roots {
		n.Bundle = append(n.Bundle, r.cert)
	}
	return &n
}

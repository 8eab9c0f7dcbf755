package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/identity"
)

func TestSignSVID(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	a, err := Open(context.Background(), st, Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	w, err := identity.For(a.TrustDomain(), "default", "catalog")
	if err != nil {
		t.Fatal(err)
	}
	if a.TrustDomain().Name() != "weft.local" {
		t.Fatalf("default trust domain %q", a.TrustDomain().Name())
	}
	root := a.Bundle()[0]
	if !root.IsCA || root.PublicKeyAlgorithm != x509.ECDSA || root.PublicKey.(*ecdsa.PublicKey).Curve != elliptic.P256() {
		t.Fatalf("root: CA %v, key %v", root.IsCA, root.PublicKeyAlgorithm)
	}
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		csr []byte
		ku  x509.KeyUsage
	}{
		"ecdsa": {csrFor(t, ecKey(t, elliptic.P256()), nil), x509.KeyUsageDigitalSignature},
		"rsa":   {csrFor(t, rsaKey, nil), x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment},
		"uri":   {csrFor(t, ecKey(t, elliptic.P384()), &x509.CertificateRequest{URIs: []*url.URL{w.ID.URL()}}), x509.KeyUsageDigitalSignature},
	} {
		t.Run(name, func(t *testing.T) {
			csr, err := ParseCSR(tc.csr, w.ID.String())
			if err != nil {
				t.Fatal(err)
			}
			chain, err := a.Sign(csr, w)
			if err != nil {
				t.Fatal(err)
			}
			leaf := chain[0]
			if len(chain) != 1 || len(leaf.URIs) != 1 || leaf.URIs[0].String() != w.ID.String() {
				t.Fatalf("chain %d, URIs %v", len(chain), leaf.URIs)
			}
			if len(leaf.DNSNames)+len(leaf.IPAddresses)+len(leaf.EmailAddresses) != 0 || leaf.IsCA {
				t.Fatalf("leaf has DNS %v IP %v email %v CA %v", leaf.DNSNames, leaf.IPAddresses, leaf.EmailAddresses, leaf.IsCA)
			}
			if leaf.KeyUsage != tc.ku {
				t.Fatalf("key usage %b, want %b", leaf.KeyUsage, tc.ku)
			}
			if len(leaf.ExtKeyUsage) != 2 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth || leaf.ExtKeyUsage[1] != x509.ExtKeyUsageClientAuth {
				t.Fatalf("EKU %v", leaf.ExtKeyUsage)
			}
			if !leaf.NotBefore.Equal(now.Add(-Backdate)) || !leaf.NotAfter.Equal(now.Add(DefaultTTL)) {
				t.Fatalf("validity %s .. %s", leaf.NotBefore, leaf.NotAfter)
			}
			got, err := identity.Verify(chain, a.TrustDomain(), a.Bundle(), now)
			if err != nil || got.ID != w.ID {
				t.Fatalf("go-spiffe verify: %v, %v", got, err)
			}
			if _, err := identity.Verify(chain, a.TrustDomain(), a.Bundle(), now.Add(DefaultTTL+time.Second)); err == nil {
				t.Fatal("verified after expiry")
			}
		})
	}
	other, _ := identity.ParseTrustDomain("other.example")
	ow, _ := identity.For(other, "default", "catalog")
	csr, _ := ParseCSR(csrFor(t, ecKey(t, elliptic.P256()), nil), "")
	if _, err := a.Sign(csr, ow); err == nil {
		t.Fatal("signed an ID of another trust domain")
	}
}

func TestParseCSRRefuses(t *testing.T) {
	t.Parallel()
	good := ecKey(t, elliptic.P256())
	want := "spiffe://weft.local/ns/default/sa/catalog"
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	tampered := csrFor(t, good, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "aaaa"}})
	b, _ := pem.Decode(tampered)
	i := strings.Index(string(b.Bytes), "aaaa")
	b.Bytes[i] = 'b'
	tampered = pem.EncodeToMemory(b)
	for name, tc := range map[string]struct {
		data []byte
		err  string
	}{
		"empty":        {nil, "empty"},
		"garbage":      {[]byte("hello"), "csr:"},
		"oversized":    {make([]byte, MaxCSRBytes+1), "larger than"},
		"pem type":     {pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "want CERTIFICATE REQUEST"},
		"trailing":     {append(csrFor(t, good, nil), "junk"...), "after the PEM block"},
		"tampered":     {tampered, "signature"},
		"p224":         {csrFor(t, ecKey(t, elliptic.P224()), nil), "P-224 refused"},
		"rsa1024":      {csrFor(t, rsa1024, nil), "1024 bits refused"},
		"dns san":      {csrFor(t, good, &x509.CertificateRequest{DNSNames: []string{"spiffe://weft.local/ns/default/sa/catalog"}}), "DNS, IP"},
		"ip san":       {csrFor(t, good, &x509.CertificateRequest{IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}}), "DNS, IP"},
		"two uris":     {csrFor(t, good, &x509.CertificateRequest{URIs: []*url.URL{mustURL(want), mustURL(want)}}), "2 URI SANs"},
		"other uri":    {csrFor(t, good, &x509.CertificateRequest{URIs: []*url.URL{mustURL("spiffe://weft.local/ns/kube-system/sa/admin")}}), "asks for"},
		"ed25519 type": {edCSR(t), "refused"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseCSR(tc.data, want)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("err = %v; want one containing %q", err, tc.err)
			}
		})
	}
}

// FuzzSignCSR: whatever ParseCSR accepts, Sign turns into an SVID naming
// the attested identity alone, which go-spiffe verifies against the bundle.
func FuzzSignCSR(f *testing.F) {
	key := ecKey(f, elliptic.P256())
	f.Add(csrFor(f, key, nil))
	f.Add(csrFor(f, key, &x509.CertificateRequest{DNSNames: []string{"a"}}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{0x30, 0x82, 0x01, 0x00})
	td, _ := identity.ParseTrustDomain("weft.local")
	w, _ := identity.For(td, "default", "catalog")
	now := time.Now()
	a := testAuthority(f, td, now)
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data, w.ID.String())
		if err != nil {
			return
		}
		chain, err := a.Sign(csr, w)
		if err != nil {
			t.Fatalf("accepted CSR does not sign: %v", err)
		}
		got, err := identity.Verify(chain, td, a.Bundle(), now)
		if err != nil || got.ID != w.ID || len(chain[0].DNSNames) != 0 || len(chain[0].URIs) != 1 {
			t.Fatalf("signed leaf: %v, %v", got, err)
		}
	})
}

// testAuthority is an Authority with a fresh root and no store.
func testAuthority(t testing.TB, td interface{ Name() string }, now time.Time) *Authority {
	t.Helper()
	tdd, _ := identity.ParseTrustDomain(td.Name())
	a := &Authority{td: tdd, ttl: DefaultTTL, now: func() time.Time { return now }}
	rec, err := a.newRoot()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.useRecord(rec, 0); err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRootPersistsAndTrustDomainIsChecked(t *testing.T) {
	dir := t.TempDir()
	st := openStore(t, dir)
	a1, err := Open(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	st = openStore(t, dir)
	defer st.Close()
	a2, err := Open(context.Background(), st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if !a1.Bundle()[0].Equal(a2.Bundle()[0]) {
		t.Fatal("a restart made a new root")
	}
	kv, err := st.Get(context.Background(), rootKey)
	if err != nil || !strings.Contains(string(kv.Value), "PRIVATE KEY") {
		t.Fatalf("stored root: %v", err)
	}
	if _, err := Open(context.Background(), st, Config{TrustDomain: "other.example"}); err == nil || !strings.Contains(err.Error(), "trust domain") {
		t.Fatalf("changed trust domain: %v", err)
	}
}

func TestOperatorIntermediate(t *testing.T) {
	now := time.Now()
	rootKey, interKey := ecKey(t, elliptic.P256()), ecKey(t, elliptic.P384())
	rootT := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: "corp root"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour * 48),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, rootKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	interT := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: "mesh intermediate"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour * 12),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	interDER, err := x509.CreateCertificate(rand.Reader, interT, root, interKey.Public(), rootKey)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	chainPEM := append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: interDER}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER})...)
	kb, _ := x509.MarshalECPrivateKey(interKey)
	os.WriteFile(certFile, chainPEM, 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)

	a, err := Open(context.Background(), nil, Config{CertFile: certFile, KeyFile: keyFile, TrustDomain: "corp.example"})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Bundle()) != 1 || !a.Bundle()[0].Equal(root) {
		t.Fatal("bundle is not the operator's root")
	}
	w, _ := identity.For(a.TrustDomain(), "shop", "cart")
	csr, _ := ParseCSR(csrFor(t, ecKey(t, elliptic.P256()), nil), "")
	chain, err := a.Sign(csr, w)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain) != 2 || !chain[0].NotAfter.Equal(chain[1].NotAfter) {
		t.Fatalf("chain of %d; leaf must not outlive the intermediate: %s vs %s", len(chain), chain[0].NotAfter, chain[1].NotAfter)
	}
	if got, err := identity.Verify(chain, a.TrustDomain(), a.Bundle(), now); err != nil || got.ID != w.ID {
		t.Fatalf("verify: %v %v", got, err)
	}
	// A key that is not the intermediate's is refused.
	other, _ := x509.MarshalECPrivateKey(ecKey(t, elliptic.P256()))
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: other}), 0o600)
	if _, err := Open(context.Background(), nil, Config{CertFile: certFile, KeyFile: keyFile}); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("mismatched key: %v", err)
	}
}

package controlplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/ca"
)

// operatorCA writes a self-signed root and its key and opens an Authority
// on them (no store needed).
func operatorCA(t *testing.T) *ca.Authority {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test root"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	os.WriteFile(cf, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(kf, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	a, err := ca.Open(context.Background(), nil, ca.Config{CertFile: cf, KeyFile: kf, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestServerCertNamesAndRotation: the serving certificate covers the
// listeners' hosts, loopback and the extra names, verifies against the
// bundle for each, carries the root for pin checks, and is reissued once
// past half its life.
func TestServerCertNamesAndRotation(t *testing.T) {
	a := operatorCA(t)
	names := serverNames([]string{"10.1.2.3:15010", "127.0.0.1:15080"}, []string{"cp.example"})
	sc, err := newServerCert(a, names, 2*time.Second, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	first, _ := sc.get(nil)
	leaf := first.Leaf
	pool := x509.NewCertPool()
	pool.AddCert(a.Bundle()[0])
	for _, host := range []string{"localhost", "127.0.0.1", "::1", "10.1.2.3", "cp.example"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: host, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
			t.Errorf("serving certificate for %s: %v", host, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "other.example"}); err == nil {
		t.Error("the serving certificate verifies for a name it was not issued for")
	}
	if slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageClientAuth) || len(leaf.URIs) > 0 {
		t.Error("the serving certificate must not pass for a workload (client auth or a SPIFFE ID)")
	}
	if got := first.Certificate[len(first.Certificate)-1]; string(got) != string(a.Bundle()[0].Raw) {
		t.Error("the chain does not end with the root")
	}
	if again, _ := sc.get(nil); again != first {
		t.Error("reissued before half its life")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, _ := sc.get(nil)
		if c != first {
			if !c.Leaf.NotAfter.After(leaf.NotAfter) {
				t.Fatal("the reissued certificate does not outlive the old one")
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("not reissued past half its life")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

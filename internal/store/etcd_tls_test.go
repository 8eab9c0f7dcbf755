package store_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// TestExternalEtcdOverTLS runs Debian's etcd with TLS and client
// certificate authentication: the store reaches it with the CA and a
// client certificate, and is refused without the certificate, with
// another CA, or with a plaintext endpoint given alongside TLS files.
func TestExternalEtcdOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "etcd test CA")
	ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	ca.writeCert(t, filepath.Join(dir, "ca.pem"))
	other := newTestCA(t, "another CA")
	other.writeCert(t, filepath.Join(dir, "other-ca.pem"))

	client := startEtcd(t, "https", []string{
		"--cert-file", filepath.Join(dir, "server.pem"), "--key-file", filepath.Join(dir, "server-key.pem"),
		"--trusted-ca-file", filepath.Join(dir, "ca.pem"), "--client-cert-auth"})
	good := store.EtcdTLS{CAFile: filepath.Join(dir, "ca.pem"), CertFile: filepath.Join(dir, "client.pem"), KeyFile: filepath.Join(dir, "client-key.pem")}
	endpoint := []string{"https://" + client}
	var s *store.Etcd
	eventuallyOpen(t, func(ctx context.Context) (err error) {
		s, err = store.OpenRemoteTLS(ctx, endpoint, good, time.Second, nil)
		return err
	})
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := s.Put(ctx, "tls/probe", []byte("over TLS")); err != nil {
		t.Fatalf("put over TLS: %v", err)
	}
	if kv, err := s.Get(ctx, "tls/probe"); err != nil || string(kv.Value) != "over TLS" {
		t.Fatalf("get over TLS: %+v %v", kv, err)
	}

	for name, tc := range map[string]struct {
		endpoints []string
		sec       store.EtcdTLS
		want      string
	}{
		"no client certificate": {endpoint, store.EtcdTLS{CAFile: good.CAFile}, ""},
		"another CA":            {endpoint, store.EtcdTLS{CAFile: filepath.Join(dir, "other-ca.pem"), CertFile: good.CertFile, KeyFile: good.KeyFile}, ""},
		"plaintext endpoint":    {[]string{"http://" + client}, good, "must be https://"},
		"certificate, no key":   {endpoint, store.EtcdTLS{CAFile: good.CAFile, CertFile: good.CertFile}, "both the certificate and the key"},
		"missing CA file":       {endpoint, store.EtcdTLS{CAFile: filepath.Join(dir, "nope.pem")}, "CA file"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		bad, err := store.OpenRemoteTLS(ctx, tc.endpoints, tc.sec, time.Second, nil)
		cancel()
		if err == nil {
			bad.Close()
			t.Errorf("%s: opened; want refused", name)
			continue
		}
		if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %q, want one saying %q", name, err, tc.want)
		}
	}
}

type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &testCA{cert: cert, key: key}
}

func (ca *testCA) writeCert(t *testing.T, path string) {
	t.Helper()
	writePEM(t, path, "CERTIFICATE", ca.cert.Raw)
}

// issue writes NAME.pem and NAME-key.pem: a leaf for 127.0.0.1.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+".pem"), "CERTIFICATE", der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(dir, name+"-key.pem"), "EC PRIVATE KEY", kder)
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

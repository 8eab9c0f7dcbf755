package controlplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
)

// caPool reads the ca.pem the control plane wrote.
func caPool(t *testing.T, a Addrs) *x509.CertPool {
	t.Helper()
	b, err := os.ReadFile(a.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	p := x509.NewCertPool()
	if !p.AppendCertsFromPEM(b) {
		t.Fatal("ca.pem holds no certificate")
	}
	return p
}

// newOpClient is the operator's client: TLS verified with ca.pem, and the
// token from operator.token.
func newOpClient(t *testing.T, a Addrs) (*apiclient.Client, error) {
	t.Helper()
	tok, err := os.ReadFile(a.OperatorTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return apiclient.NewWith(apiclient.Options{TLS: &tls.Config{RootCAs: caPool(t, a)}, Token: strings.TrimSpace(string(tok))}, a.API)
}

// svidFor gets an SVID of service through a join token, as a sidecar does.
func svidFor(t *testing.T, a Addrs, service string) tls.Certificate {
	t.Helper()
	ctx := context.Background()
	op, _ := newOpClient(t, a)
	tok, err := op.CreateToken(ctx, api.TokenRequest{Service: service})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	res, err := op.SVID(ctx, api.SVIDRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), Token: tok.Token})
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	c, err := tls.X509KeyPair([]byte(res.Chain), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// workloadTLS is a workload's TLS config: its SVID, and ca.pem.
func workloadTLS(t *testing.T, a Addrs, service string) *tls.Config {
	return &tls.Config{RootCAs: caPool(t, a), Certificates: []tls.Certificate{svidFor(t, a, service)}}
}

// xdsCreds dials the xDS port as a workload of service.
func xdsCreds(t *testing.T, a Addrs, service string) grpc.DialOption {
	t.Helper()
	return grpc.WithTransportCredentials(credentials.NewTLS(workloadTLS(t, a, service)))
}

// writeSVIDFiles writes a workload's certificate, key and the CA for a
// file-based consumer (grpc-go's xDS bootstrap "tls" channel creds).
func writeSVIDFiles(t *testing.T, a Addrs, service string) (cert, key, ca string) {
	t.Helper()
	c := svidFor(t, a, service)
	dir := t.TempDir()
	var chain []byte
	for _, d := range c.Certificate {
		chain = append(chain, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: d})...)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(c.PrivateKey)
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, chain, 0o600)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	return cert, key, a.CAFile
}

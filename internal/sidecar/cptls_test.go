package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/controlplane"
	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/mtls"
)

// operatorClient reaches the control plane as its operator: TLS verified
// with the ca.pem it wrote, and the token it wrote.
func operatorClient(t *testing.T, a controlplane.Addrs) *apiclient.Client {
	t.Helper()
	tok, err := os.ReadFile(a.OperatorTokenFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(a.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := apiclient.NewWith(apiclient.Options{TLS: &tls.Config{RootCAs: pool}, Token: strings.TrimSpace(string(tok))}, a.API)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestCPTrustPin: the join token's pin admits the control plane's bundle
// on first contact; a wrong pin refuses it, and without any roots the
// sidecar does not talk to the control plane at all.
func TestCPTrustPin(t *testing.T) {
	addrs, stop := startControlPlane(t, filepath.Join(t.TempDir(), "etcd"), 0)
	defer stop()
	ctx := context.Background()
	b, err := operatorClient(t, addrs).Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := decodeCerts(b.Roots)
	pin := identity.CertPin(roots[0])

	bad := &cpTrust{svid: &mtls.Source{}}
	wrong := "sha256:" + strings.Repeat("0", 64)
	if err := bad.bootstrap(ctx, []string{addrs.API}, wrong); !errors.Is(err, identity.ErrPinMismatch) {
		t.Fatalf("wrong pin: %v", err)
	}
	if err := bad.bootstrap(ctx, []string{addrs.API}, ""); !errors.Is(err, errNoRoots) {
		t.Fatalf("no pin, no caFile: %v", err)
	}
	c, _ := apiclient.NewWith(apiclient.Options{TLS: bad.config()}, addrs.API)
	if _, err := c.Bundle(ctx); err == nil || !strings.Contains(err.Error(), "no CA bundle") {
		t.Fatalf("a sidecar without roots must not talk to the control plane: %v", err)
	}

	good := &cpTrust{svid: &mtls.Source{}}
	if err := good.bootstrap(ctx, []string{addrs.API}, pin); err != nil {
		t.Fatal(err)
	}
	c, _ = apiclient.NewWith(apiclient.Options{TLS: good.config()}, addrs.API)
	if _, err := c.Bundle(ctx); err != nil {
		t.Fatalf("pinned bundle: %v", err)
	}
	fromFile, err := newCPTrust(&mtls.Source{}, addrs.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	c, _ = apiclient.NewWith(apiclient.Options{TLS: fromFile.config()}, addrs.API)
	if _, err := c.Bundle(ctx); err != nil {
		t.Fatalf("controlPlane.caFile: %v", err)
	}
}

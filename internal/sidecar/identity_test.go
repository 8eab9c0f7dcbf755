package sidecar

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/controlplane"
	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/mtls"
)

// startControlPlane runs a control plane on loopback with its embedded etcd
// in dir.
func startControlPlane(t *testing.T, dir string, ttl time.Duration) (controlplane.Addrs, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan controlplane.Addrs, 1), make(chan error, 1)
	cfg := controlplane.Config{DataDir: dir, XDS: "127.0.0.1:0", API: "127.0.0.1:0", FastTicks: true, SVIDTTL: ttl,
		Logger: slog.New(slog.DiscardHandler), Ready: func(a controlplane.Addrs) { ready <- a }}
	go func() { done <- controlplane.Run(ctx, cfg) }()
	select {
	case a := <-ready:
		return a, func() { cancel(); <-done }
	case err := <-done:
		cancel()
		t.Fatalf("control plane: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("control plane did not start in 30s")
	}
	return controlplane.Addrs{}, nil
}

func code(err error) int {
	var e *apiclient.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// TestIdentityAgainstControlPlane: a join token gets a sidecar its first
// SVID once; the SVID renews itself; a spent token and an expired SVID are
// refused; the root survives a control-plane restart.
func TestIdentityAgainstControlPlane(t *testing.T) {
	dir := t.TempDir()
	addrs, stop := startControlPlane(t, filepath.Join(dir, "etcd"), 2*time.Second)
	defer func() { stop() }()
	ctx := context.Background()
	c := operatorClient(t, addrs)
	tok, err := c.CreateToken(ctx, api.TokenRequest{Service: "catalog", TTLSeconds: 60})
	if err != nil {
		t.Fatal(err)
	}
	if tok.SPIFFEID != "spiffe://weft.local/ns/default/sa/catalog" || tok.Uses != 1 {
		t.Fatalf("token: %+v", tok)
	}
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(tok.Token+"\n"), 0o600)
	if !strings.Contains(tok.Token, ".sha256:") {
		t.Fatalf("a join token carries the CA pin: %q", tok.Token)
	}
	trust := &cpTrust{svid: &mtls.Source{}}
	sc, _ := apiclient.NewWith(apiclient.Options{TLS: trust.config()}, addrs.API)
	cc := &certClient{api: sc, trust: trust, servers: []string{addrs.API}, tokenFile: tokenFile, src: &mtls.Source{}, log: slog.New(slog.DiscardHandler), now: time.Now, onIssued: func(string) {}, status: newCertStatus(&mtls.Source{}, 0),
		cacheFile: filepath.Join(dir, "cache", "svid.json")}

	first, err := cc.issue(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Bundle(ctx)
	if err != nil {
		t.Fatal(err)
	}
	roots, _ := decodeCerts(b.Roots)
	td, _ := identity.ParseTrustDomain(b.TrustDomain)
	if w, err := identity.Verify([]*x509.Certificate{first.Certificate.Leaf}, td, roots, time.Now()); err != nil || w.Account != "catalog" {
		t.Fatalf("first svid does not verify against /v1/bundle: %v, %v", w, err)
	}
	if _, err := cc.issue(ctx, nil); code(err) != http.StatusUnauthorized {
		t.Fatalf("spent token: %v", err)
	}
	second, err := cc.issue(ctx, first)
	if err != nil {
		t.Fatalf("renewal: %v", err)
	}
	if second.ID != first.ID || second.Certificate.Leaf.PublicKey.(*ecdsa.PublicKey).Equal(first.Certificate.Leaf.PublicKey) {
		t.Fatal("renewal must keep the identity and change the key")
	}

	// The run loop renews at half-life and caches with mode 0600.
	rctx, cancel := context.WithCancel(ctx)
	loopDone := make(chan struct{})
	cc.src.Set(second)
	if err := cc.saveCache(second); err != nil {
		t.Fatal(err)
	}
	go func() { defer close(loopDone); cc.run(rctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for cc.src.Current() == second && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-loopDone
	if cc.src.Current() == second {
		t.Fatal("the run loop did not renew at half-life")
	}
	if fi, err := os.Stat(cc.cacheFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("cache file: %v %v", fi, err)
	}

	// An expired SVID cannot renew.
	for time.Now().Before(second.NotAfter().Add(100 * time.Millisecond)) {
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := cc.issue(ctx, second); code(err) != http.StatusUnauthorized {
		t.Fatalf("renewal with an expired svid: %v", err)
	}

	stop()
	addrs, stop = startControlPlane(t, filepath.Join(dir, "etcd"), time.Hour)
	c2 := operatorClient(t, addrs)
	b2, err := c2.Bundle(ctx)
	if err != nil || b2.Roots != b.Roots {
		t.Fatalf("the root changed across a restart: %v", err)
	}
}

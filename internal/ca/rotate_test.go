package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weft-mesh/weft/internal/identity"
)

// TestRootRotationPhases walks a rotation through its phases and checks,
// at each, the bundle's order (signing root first), which root signs new
// leaves, that a leaf of the other root still verifies while both are in
// the bundle, that the state survives a restart (a second Authority on the
// same store), and that a step out of order is refused.
func TestRootRotationPhases(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st := openStore(t, dir)
	defer st.Close()
	a, err := Open(ctx, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	w, _ := identity.For(a.TrustDomain(), "default", "catalog")
	sign := func(a *Authority) *x509.Certificate {
		t.Helper()
		csr, err := ParseCSR(csrFor(t, ecKey(t, elliptic.P256()), nil), w.ID.String())
		if err != nil {
			t.Fatal(err)
		}
		chain, err := a.Sign(csr, w)
		if err != nil {
			t.Fatal(err)
		}
		return chain[0]
	}
	verifies := func(leaf *x509.Certificate, bundle []*x509.Certificate) bool {
		_, err := identity.Verify([]*x509.Certificate{leaf}, a.TrustDomain(), bundle, time.Now())
		return err == nil
	}
	oldRoot := a.Signing()
	oldLeaf := sign(a)

	if _, err := a.Promote(ctx, time.Hour); !errors.Is(err, ErrRotation) {
		t.Fatalf("promote without a rotation: %v", err)
	}
	if _, err := a.Finish(ctx); !errors.Is(err, ErrRotation) {
		t.Fatalf("finish without a rotation: %v", err)
	}

	rot, err := a.Rotate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b := a.Bundle()
	if rot.Phase != PhasePropagating || len(b) != 2 || !b[0].Equal(oldRoot) || len(rot.Roots) != 2 {
		t.Fatalf("after rotate: phase %q, bundle %d, first is old %v", rot.Phase, len(b), b[0].Equal(oldRoot))
	}
	newRoot := b[1]
	if l := sign(a); l.CheckSignatureFrom(oldRoot) != nil {
		t.Fatal("while propagating, leaves must still come from the old root")
	}
	if _, err := a.Rotate(ctx); !errors.Is(err, ErrRotation) {
		t.Fatalf("second rotate: %v", err)
	}

	// A replica (or a restart) on the same store sees the phase.
	b2, err := Open(ctx, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	if b2.Rotation().Phase != PhasePropagating || len(b2.Bundle()) != 2 || !b2.Bundle()[1].Equal(newRoot) {
		t.Fatalf("reopened: phase %q, bundle %d", b2.Rotation().Phase, len(b2.Bundle()))
	}

	rot, err = a.Promote(ctx, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	b = a.Bundle()
	if rot.Phase != PhaseOverlap || len(b) != 2 || !b[0].Equal(newRoot) || !b[1].Equal(oldRoot) || rot.FinishAt.Sub(rot.Since) != 5*time.Minute {
		t.Fatalf("after promote: %+v", rot)
	}
	newLeaf := sign(a)
	if newLeaf.CheckSignatureFrom(newRoot) != nil {
		t.Fatal("after promote, leaves must come from the new root")
	}
	if !verifies(oldLeaf, b) || !verifies(newLeaf, b) {
		t.Fatal("during the overlap both generations of leaves must verify")
	}
	if changed, err := b2.Reload(ctx); err != nil || !changed || !b2.Signing().Equal(newRoot) {
		t.Fatalf("replica reload: changed %v, err %v", changed, err)
	}
	if changed, err := b2.Reload(ctx); err != nil || changed {
		t.Fatalf("second reload changed %v, err %v", changed, err)
	}

	rot, err = a.Finish(ctx)
	if err != nil {
		t.Fatal(err)
	}
	b = a.Bundle()
	if rot.Phase != PhaseNone || len(b) != 1 || !b[0].Equal(newRoot) {
		t.Fatalf("after finish: phase %q, bundle %d", rot.Phase, len(b))
	}
	if verifies(oldLeaf, b) || !verifies(newLeaf, b) {
		t.Fatal("after finish, an old leaf must be refused and a new one accepted")
	}
	if a.Pin() != identity.CertPin(newRoot) {
		t.Fatal("the pin must follow the signing root")
	}
	kv, _ := st.Get(ctx, rootKey)
	if strings.Count(string(kv.Value), "PRIVATE KEY-----") != 2 { // BEGIN and END of one key
		t.Fatalf("stored record keeps %d key markers", strings.Count(string(kv.Value), "PRIVATE KEY-----"))
	}
	// The server certificate follows the signing root too.
	sc, err := a.IssueServer([]string{"localhost"}, time.Hour)
	if err != nil || sc.Leaf.CheckSignatureFrom(newRoot) != nil {
		t.Fatalf("server certificate after rotation: %v", err)
	}
}

// TestOperatorCARefusesRotation: an operator's --ca-cert is rotated by the
// operator, not here, and says so.
func TestOperatorCARefusesRotation(t *testing.T) {
	a := testAuthority(t, spiffeid.RequireTrustDomainFromString("weft.local"), time.Now())
	if _, err := a.Rotate(context.Background()); !errors.Is(err, ErrRotation) || !strings.Contains(err.Error(), "--ca-cert") {
		t.Fatalf("rotate: %v", err)
	}
}

// TestRotateToOperatorRoot: an operator's root is checked, then announced
// like a generated one; its key is stored, never echoed in errors.
func TestRotateToOperatorRoot(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, t.TempDir())
	defer st.Close()
	a, err := Open(ctx, st, Config{})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(isCA bool, td string, life time.Duration) (string, string, *ecdsa.PrivateKey) {
		key := ecKey(t, elliptic.P256())
		tmpl := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: "operator root"},
			NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(life),
			IsCA: isCA, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, URIs: []*url.URL{mustURL("spiffe://" + td)}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
		if err != nil {
			t.Fatal(err)
		}
		pk, _ := x509.MarshalPKCS8PrivateKey(key)
		return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})), string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})), key
	}
	good, goodKey, _ := mk(true, "weft.local", 365*24*time.Hour)
	_, otherKey, _ := mk(true, "weft.local", 365*24*time.Hour)
	leaf, leafKey, _ := mk(false, "weft.local", 365*24*time.Hour)
	foreign, foreignKey, _ := mk(true, "other.example", 365*24*time.Hour)
	short, shortKey, _ := mk(true, "weft.local", time.Hour)
	cur := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Signing().Raw}))
	for name, c := range map[string][2]string{
		"cert alone":         {good, ""},
		"another key":        {good, otherKey},
		"not a CA":           {leaf, leafKey},
		"other trust domain": {foreign, foreignKey},
		"shorter than a TTL": {short, shortKey},
		"garbage":            {"x", "y"},
		"the current root":   {cur, goodKey},
	} {
		_, err := a.RotateTo(ctx, c[0], c[1])
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", name, err)
		}
		if err != nil && strings.Contains(err.Error(), "PRIVATE KEY") {
			t.Errorf("%s: the error quotes the key", name)
		}
	}
	if a.Rotation().Phase != PhaseNone {
		t.Fatal("a refused root started a rotation")
	}
	if _, err := a.RotateTo(ctx, good, goodKey); err != nil {
		t.Fatal(err)
	}
	if b := a.Bundle(); len(b) != 2 || string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b[1].Raw})) != good {
		t.Fatal("the operator's root is not the announced one")
	}
	if _, err := a.Promote(ctx, time.Hour); err != nil {
		t.Fatal(err)
	}
	w, _ := identity.For(a.TrustDomain(), "default", "catalog")
	csr, _ := ParseCSR(csrFor(t, ecKey(t, elliptic.P256()), nil), w.ID.String())
	chain, err := a.Sign(csr, w)
	if err != nil || chain[0].CheckSignatureFrom(a.Bundle()[0]) != nil || string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: a.Bundle()[0].Raw})) != good {
		t.Fatalf("signing with the operator's root: %v", err)
	}
}

package ca

import (
	"context"
	"crypto/elliptic"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/identity"
)

func TestTokenLifecycle(t *testing.T) {
	st := openStore(t, t.TempDir())
	defer st.Close()
	ctx := context.Background()
	var now atomic.Pointer[time.Time]
	t0 := time.Now()
	now.Store(&t0)
	tok := NewTokens(st, func() time.Time { return *now.Load() })
	td, _ := identity.ParseTrustDomain("weft.local")
	w, _ := identity.For(td, "default", "catalog")

	once, _, err := tok.Create(ctx, w, time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	twice, _, err := tok.Create(ctx, w, time.Hour, 2)
	if err != nil {
		t.Fatal(err)
	}
	short, exp, err := tok.Create(ctx, w, time.Minute, 5)
	if err != nil || !exp.Equal(t0.Add(time.Minute)) {
		t.Fatal(err, exp)
	}

	// Stored hashed: no key or value holds a secret, or its random part.
	kvs, _, err := st.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range kvs {
		for _, secret := range []string{once, twice, short} {
			raw := strings.TrimPrefix(secret, tokenScheme)
			if strings.Contains(kv.Key, raw) || strings.Contains(string(kv.Value), raw) {
				t.Fatalf("store key %s holds a token in plaintext", kv.Key)
			}
		}
	}

	if got, err := tok.Redeem(ctx, once); err != nil || got.ID != w.ID {
		t.Fatalf("first use: %v, %v", got, err)
	}
	if _, err := tok.Redeem(ctx, once); !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("second use of a single-use token: %v", err)
	}
	// Two uses, five racing sidecars: exactly two get in.
	var ok atomic.Int32
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := tok.Redeem(ctx, twice); err == nil {
				ok.Add(1)
			} else if !errors.Is(err, ErrUnauthenticated) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if ok.Load() != 2 {
		t.Fatalf("%d redemptions of a two-use token", ok.Load())
	}
	later := t0.Add(2 * time.Minute)
	now.Store(&later)
	if _, err := tok.Redeem(ctx, short); !errors.Is(err, ErrUnauthenticated) || !strings.Contains(err.Error(), "expired") {
		t.Fatalf("expired token: %v", err)
	}
	for _, bad := range []string{"", "weftjt_", "nope", tokenScheme + strings.Repeat("A", 200)} {
		if _, err := tok.Redeem(ctx, bad); !errors.Is(err, ErrUnauthenticated) {
			t.Fatalf("Redeem(%q) = %v", bad, err)
		}
	}
	for _, c := range []struct {
		ttl  time.Duration
		uses int
	}{{-time.Second, 1}, {MaxTokenTTL + time.Second, 1}, {time.Hour, -1}, {time.Hour, MaxTokenUses + 1}} {
		if _, _, err := tok.Create(ctx, w, c.ttl, c.uses); !errors.Is(err, ErrInvalid) {
			t.Fatalf("Create(ttl %s, uses %d) = %v", c.ttl, c.uses, err)
		}
	}
}

func TestRenewalAttestation(t *testing.T) {
	t.Parallel()
	td, _ := identity.ParseTrustDomain("weft.local")
	now := time.Now()
	a := testAuthority(t, td, now)
	w, _ := identity.For(td, "default", "catalog")
	curKey := ecKey(t, elliptic.P256())
	csr, _ := ParseCSR(csrFor(t, curKey, nil), "")
	cur, err := a.Sign(csr, w)
	if err != nil {
		t.Fatal(err)
	}
	next := csrFor(t, ecKey(t, elliptic.P256()), nil)
	proof, err := identity.RenewalProof(curKey, next)
	if err != nil {
		t.Fatal(err)
	}
	att := []Attestor{SVIDAttestor{CA: a, Now: func() time.Time { return now }}}
	got, chain, err := Issue(context.Background(), a, att, &Evidence{CSR: next, SVID: cur, Proof: proof})
	if err != nil || got.ID != w.ID || len(chain) != 1 {
		t.Fatalf("renewal: %v, %v", got, err)
	}
	// Refused: a proof by another key, a proof of another CSR, an expired
	// SVID, an SVID of another CA, and no credential at all.
	otherProof, _ := identity.RenewalProof(ecKey(t, elliptic.P256()), next)
	stale, _ := identity.RenewalProof(curKey, csrFor(t, curKey, nil))
	late := []Attestor{SVIDAttestor{CA: a, Now: func() time.Time { return now.Add(DefaultTTL + time.Minute) }}}
	foreign := testAuthority(t, td, now)
	fchain, _ := foreign.Sign(csr, w)
	fproof, _ := identity.RenewalProof(curKey, next)
	for name, c := range map[string]struct {
		att []Attestor
		ev  Evidence
	}{
		"other key":   {att, Evidence{CSR: next, SVID: cur, Proof: otherProof}},
		"other csr":   {att, Evidence{CSR: next, SVID: cur, Proof: stale}},
		"expired":     {late, Evidence{CSR: next, SVID: cur, Proof: proof}},
		"foreign ca":  {att, Evidence{CSR: next, SVID: fchain, Proof: fproof}},
		"nothing":     {att, Evidence{CSR: next}},
		"ca as svid":  {att, Evidence{CSR: next, SVID: a.Bundle(), Proof: proof}},
		"no proof":    {att, Evidence{CSR: next, SVID: cur}},
		"token+svid":  {att, Evidence{CSR: next, SVID: cur, Proof: proof, Token: "weftjt_x"}},
		"garbage csr": {att, Evidence{CSR: []byte("x"), SVID: cur, Proof: proof}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, _, err := Issue(context.Background(), a, c.att, &c.ev); !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("Issue = %v; want refused", err)
			}
		})
	}
}

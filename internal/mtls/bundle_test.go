package mtls

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"
)

func pemOf(certs ...[]byte) []byte {
	var b bytes.Buffer
	for _, c := range certs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c})
	}
	return b.Bytes()
}

func TestParseBundle(t *testing.T) {
	a, b := newCA(t, td), newCA(t, td)
	leaf := a.leaf(t, apiSA, leafOpts{})
	good := pemOf(a.cert.Raw, b.cert.Raw)
	roots, err := ParseBundle(append([]byte("\n  "), good...))
	if err != nil || len(roots) != 2 || !roots[0].Equal(a.cert) || !roots[1].Equal(b.cert) {
		t.Fatalf("two roots: %d, %v", len(roots), err)
	}
	for name, in := range map[string][]byte{
		"empty":         nil,
		"white space":   []byte(" \n"),
		"garbage first": append([]byte("x"), good...),
		"garbage after": append(append([]byte{}, good...), "trailer"...),
		"a key block":   append(append([]byte{}, good...), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})...),
		"headers":       pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Headers: map[string]string{"a": "b"}, Bytes: a.cert.Raw}),
		"a leaf":        pemOf(leaf.Certificate.Certificate[0]),
		"bad der":       pemOf([]byte{0x30, 0x03, 1, 2, 3}),
		"truncated":     good[:len(good)-10],
		"too many":      bytes.Repeat(pemOf(a.cert.Raw), MaxBundleRoots+1),
		"too large":     append(good, bytes.Repeat([]byte("\n"), MaxBundleBytes)...),
	} {
		if _, err := ParseBundle(in); err == nil || !(errors.Is(err, ErrBundle) || errors.Is(err, ErrBundleEmpty)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := ParseBundle(bytes.Repeat(pemOf(a.cert.Raw), MaxBundleRoots)); err != nil {
		t.Errorf("%d roots (the cap): %v", MaxBundleRoots, err)
	}
}

// FuzzParseBundle: whatever the bytes, ParseBundle returns CA
// certificates within the caps or an error of its kinds, and what it
// accepts re-encodes to the same roots.
func FuzzParseBundle(f *testing.F) {
	a, b := newCA(f, td), newCA(f, td)
	f.Add(pemOf(a.cert.Raw))
	f.Add(pemOf(a.cert.Raw, b.cert.Raw))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add([]byte(strings.Repeat("-----BEGIN X-----\n", 3)))
	f.Fuzz(func(t *testing.T, in []byte) {
		roots, err := ParseBundle(in)
		if err != nil {
			if !errors.Is(err, ErrBundle) && !errors.Is(err, ErrBundleEmpty) {
				t.Fatalf("error of no known kind: %v", err)
			}
			return
		}
		if len(roots) == 0 || len(roots) > MaxBundleRoots {
			t.Fatalf("%d roots", len(roots))
		}
		var ders [][]byte
		for _, r := range roots {
			if !r.IsCA {
				t.Fatal("a non-CA root accepted")
			}
			ders = append(ders, r.Raw)
		}
		again, err := ParseBundle(pemOf(ders...))
		if err != nil || len(again) != len(roots) {
			t.Fatalf("re-encoded bundle: %d roots, %v", len(again), err)
		}
	})
}

// TestPushedBundleOutlivesRenewal: a bundle pushed by the control plane
// stays the bundle across a renewal that arrived with another one (the
// CSR answer's, possibly older), and SetPushedBundle reaches the SVID
// held at the time.
func TestPushedBundleOutlivesRenewal(t *testing.T) {
	oldCA, newCA2 := newCA(t, td), newCA(t, td)
	var src Source
	if src.Pushed() != nil {
		t.Fatal("a bundle before any push")
	}
	src.Set(oldCA.leaf(t, apiSA, leafOpts{}))
	if !src.SetPushedBundle([]*x509.Certificate{newCA2.cert, oldCA.cert}) {
		t.Fatal("no SVID to attach the bundle to")
	}
	if b := src.Current().Bundle; len(b) != 2 || !b[0].Equal(newCA2.cert) {
		t.Fatalf("bundle after push: %d roots", len(b))
	}
	renewed := newCA2.leaf(t, apiSA, leafOpts{}) // arrives with {new} only
	src.Set(renewed)
	if b := src.Current().Bundle; len(b) != 2 || !b[1].Equal(oldCA.cert) {
		t.Fatalf("a renewal replaced the pushed bundle: %d roots", len(b))
	}
	if renewed.Bundle[0] != newCA2.cert || len(renewed.Bundle) != 1 {
		t.Fatal("Set modified the caller's SVID")
	}
	src.SetPushedBundle([]*x509.Certificate{newCA2.cert})
	if b := src.Current().Bundle; len(b) != 1 || len(src.Pushed()) != 1 {
		t.Fatalf("finish: %d roots", len(b))
	}
}

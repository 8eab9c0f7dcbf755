package mtls

import (
	"bytes"
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

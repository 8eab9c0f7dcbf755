package identity

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, ns, sa, err string
	}{
		{in: "spiffe://weft.local/ns/default/sa/catalog", ns: "default", sa: "catalog"},
		{in: "spiffe://example.org/ns/prod-1/sa/a_b.c", ns: "prod-1", sa: "a_b.c"},
		{in: "spiffe://weft.local/ns/default/sa/catalog/extra", err: "path must be"},
		{in: "spiffe://weft.local/sa/catalog/ns/default", err: "path must be"},
		{in: "spiffe://weft.local/ns/default", err: "path must be"},
		{in: "spiffe://weft.local", err: "path must be"},
		{in: "spiffe://weft.local/ns//sa/x", err: "empty segment"},
		{in: "spiffe://weft.local/ns/../sa/x", err: "dot segment"},
		{in: "spiffe://weft.local/ns/a%2Fb/sa/x", err: "limited to"},
		{in: "spiffe://Weft.local/ns/a/sa/x", err: "limited to"},
		{in: "https://weft.local/ns/a/sa/x", err: "scheme"},
		{in: "spiffe://weft.local/ns/a/sa/x?q=1", err: "limited to"},
		{in: "spiffe://user@weft.local/ns/a/sa/x", err: "limited to"},
		{in: "spiffe://weft.local:8080/ns/a/sa/x", err: "limited to"},
		{in: "spiffe://weft.local/ns/a/sa/x/", err: "trailing slash"},
		{in: "", err: "empty"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			w, err := Parse(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse(%q) = %v, %v; want error containing %q", tc.in, w, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Namespace != tc.ns || w.Account != tc.sa || w.String() != tc.in {
				t.Fatalf("Parse(%q) = %+v", tc.in, w)
			}
		})
	}
}

func TestFor(t *testing.T) {
	t.Parallel()
	td, err := ParseTrustDomain("weft.local")
	if err != nil {
		t.Fatal(err)
	}
	w, err := For(td, "default", "catalog")
	if err != nil || w.String() != "spiffe://weft.local/ns/default/sa/catalog" {
		t.Fatalf("For = %v, %v", w, err)
	}
	for _, bad := range [][2]string{{"", "x"}, {"a", ""}, {"a/b", "x"}, {"a", ".."}} {
		if w, err := For(td, bad[0], bad[1]); err == nil {
			t.Errorf("For(%q, %q) = %v; want an error", bad[0], bad[1], w)
		}
	}
	for _, bad := range []string{"", "spiffe://weft.local", "Weft.local", "a/b", "a:80"} {
		if _, err := ParseTrustDomain(bad); err == nil {
			t.Errorf("ParseTrustDomain(%q): want an error", bad)
		}
	}
}

// FuzzParse: whatever it accepts round-trips and has the workload shape.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"spiffe://weft.local/ns/default/sa/catalog", "spiffe://a/ns/b/sa/c/d", "spiffe://x/ns/%2e%2e/sa/c", "spiffe:///ns/a/sa/b", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := Parse(s)
		if err != nil {
			return
		}
		if w.String() != s {
			t.Fatalf("Parse(%q) round-trips to %q", s, w.String())
		}
		if w.Namespace == "" || w.Account == "" || strings.ContainsAny(w.Namespace+w.Account, "/%") {
			t.Fatalf("Parse(%q) = %+v", s, w)
		}
		again, err := For(w.ID.TrustDomain(), w.Namespace, w.Account)
		if err != nil || again.ID != w.ID {
			t.Fatalf("For(parts of %q) = %v, %v", s, again, err)
		}
	})
}

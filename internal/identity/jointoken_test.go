package identity

import (
	"strings"
	"testing"
)

func TestSplitJoinToken(t *testing.T) {
	pin := "sha256:" + strings.Repeat("ab", 32)
	for _, tc := range []struct {
		in, secret, pin string
		bad             bool
	}{
		{"weftjt_abc", "weftjt_abc", "", false},
		{"weftjt_abc." + pin, "weftjt_abc", pin, false},
		{"weftjt_abc." + strings.ToUpper(pin[7:]), "", "", true},
		{"weftjt_abc.sha256:" + strings.Repeat("AB", 32), "weftjt_abc", pin, false},
		{"weftjt_abc.sha256:abc", "", "", true},
		{"weftjt_abc.sha256:" + strings.Repeat("zz", 32), "", "", true},
		{"weftjt_abc.md5:" + strings.Repeat("ab", 32), "", "", true},
	} {
		s, p, err := SplitJoinToken(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (s != tc.secret || p != tc.pin)) {
			t.Errorf("SplitJoinToken(%q) = %q, %q, %v", tc.in, s, p, err)
		}
	}
}

func FuzzSplitJoinToken(f *testing.F) {
	f.Add("weftjt_abc.sha256:" + strings.Repeat("ab", 32))
	f.Add("weftjt_abc")
	f.Add(".sha256:")
	f.Fuzz(func(t *testing.T, tok string) {
		s, p, err := SplitJoinToken(tok)
		if err != nil {
			return
		}
		if p != "" && (len(p) != len(PinPrefix)+64 || !strings.HasPrefix(tok, s+".")) {
			t.Fatalf("SplitJoinToken(%q) = %q, %q", tok, s, p)
		}
		if p == "" && s != tok {
			t.Fatalf("a token without a pin changed: %q -> %q", tok, s)
		}
	})
}

package controlplane

import "testing"

func TestLineDiff(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{"", "x\ny\n", "+ x\n+ y\n"},
		{"x\ny\n", "", "- x\n- y\n"},
		{"a\nb\nc\n", "a\nB\nc\n", "  a\n- b\n+ B\n  c\n"},
		{"a\nb\n", "a\nb\n", "  a\n  b\n"},
		{"a\nc\n", "a\nb\nc\n", "  a\n+ b\n  c\n"},
	} {
		if got := lineDiff([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("lineDiff(%q, %q) = %q, want %q", c.a, c.b, got, c.want)
		}
	}
}

package route

import (
	"bytes"
	"testing"
)

func TestNormalizePath(t *testing.T) {
	tests := []struct{ in, path, query string }{
		{"/", "/", ""},
		{"/admin", "/admin", ""},
		{"//admin", "/admin", ""},
		{"/./admin", "/admin", ""},
		{"/x/../admin", "/admin", ""},
		{"/../../admin", "/admin", ""},
		{"/%61dmin", "/admin", ""},
		{"/admin/", "/admin/", ""},
		{"/a/b/..", "/a/", ""},
		{"/a/b/.", "/a/b/", ""},
		{"/a//b///c", "/a/b/c", ""},
		{"/a%20b", "/a%20b", ""},
		{"/a%2cb", "/a%2Cb", ""},
		{"/%2e%2e/admin", "/admin", ""},
		{"/search?q=1&x=%2F", "/search", "q=1&x=%2F"},
		{"/a?", "/a", ""},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, q, err := NormalizePath(nil, []byte(tt.in))
			if err != nil {
				t.Fatalf("error %v", err)
			}
			if string(p) != tt.path || string(q) != tt.query {
				t.Fatalf("got %q ? %q, want %q ? %q", p, q, tt.path, tt.query)
			}
		})
	}
}

func TestNormalizePathRejects(t *testing.T) {
	for _, in := range []string{"", "admin", "*", "/admin%2F", "/%2Fadmin", "/admin%5C", "/admin%5c", "/admin#x",
		"/a\\b", "/a b", "/a\x00b", "/%00", "/%zz", "/%4", "/a?b#c", "/a?b c", "/caf\xc3\xa9", "/a\x7f"} {
		if p, _, err := NormalizePath(nil, []byte(in)); err == nil {
			t.Errorf("NormalizePath(%q) = %q, want error", in, p)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	tests := []struct{ in, want string }{
		{"secret.com", "secret.com"},
		{"Secret.com", "secret.com"},
		{"secret.com:80", "secret.com"},
		{"secret.com.", "secret.com"},
		{"SECRET.COM.:8080", "secret.com"},
		{"[::1]:80", "[::1]"},
		{"127.0.0.1:15001", "127.0.0.1"},
	}
	for _, tt := range tests {
		got, err := NormalizeHost(nil, []byte(tt.in))
		if err != nil || string(got) != tt.want {
			t.Errorf("NormalizeHost(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", ".", "..", "...", "a..", "a..:80", "a b", "a\x00.internal", "a/b", "user@host", "h:x", "[::1", "[::1]x", "h:123456", "a\r\nb"} {
		if got, err := NormalizeHost(nil, []byte(in)); err == nil {
			t.Errorf("NormalizeHost(%q) = %q, want error", in, got)
		}
	}
}

func FuzzNormalizePath(f *testing.F) {
	for _, s := range []string{"/", "//admin", "/./a/../b", "/%61dmin", "/a%2Fb", "/x?y=1", "/a/b/..", "/%2e%2e/x"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		p, q, err := NormalizePath(nil, in)
		if err != nil {
			return
		}
		if len(p) == 0 || p[0] != '/' {
			t.Fatalf("%q -> %q: not absolute", in, p)
		}
		for _, bad := range []string{"//", "/./", "/../", "\x00", "%2F", "%2f", "%5C", "#"} {
			if bytes.Contains(p, []byte(bad)) {
				t.Fatalf("%q -> %q contains %q", in, p, bad)
			}
		}
		if bytes.HasSuffix(p, []byte("/..")) || bytes.HasSuffix(p, []byte("/.")) {
			t.Fatalf("%q -> %q ends in a dot segment", in, p)
		}
		again, _, err := NormalizePath(nil, p)
		if err != nil || !bytes.Equal(again, p) {
			t.Fatalf("not idempotent: %q -> %q -> %q (%v)", in, p, again, err)
		}
		_ = q
	})
}

func FuzzNormalizeHost(f *testing.F) {
	for _, s := range []string{"a.com", "A.com:80", "[::1]:1", "x.", "a\x00b", "..", "a..:1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		h, err := NormalizeHost(nil, in)
		if err != nil {
			return
		}
		if bytes.ContainsAny(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZ \x00\r\n/@") {
			t.Fatalf("%q -> %q", in, h)
		}
		again, err := NormalizeHost(nil, h)
		if err != nil || !bytes.Equal(again, h) {
			t.Fatalf("not idempotent: %q -> %q -> %q", in, h, again)
		}
	})
}

func BenchmarkNormalizePath(b *testing.B) {
	in := []byte("/api/v1/items/42/../43?x=1")
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	for b.Loop() {
		NormalizePath(buf[:0], in)
	}
}

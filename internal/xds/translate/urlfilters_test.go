package translate

import "testing"

// ReplacePrefixMatch takes a plain prefix_rewrite only where it means
// what Gateway API means; the other cases take a regex, so no double
// slash appears and an empty path becomes /.
func TestPrefixRewriteShapes(t *testing.T) {
	for _, tt := range []struct{ match, repl, prefix, regex, sub string }{
		{"/foo", "/bar", "/bar", "", ""},
		{"/foo", "/bar/", "/bar", "", ""},
		{"/foo", "/", "", "^/foo/*", "/"},
		{"/foo/", "/bar", "", "^/foo", "/bar"},
		{"/", "/bar", "", "^", "/bar"},
		{"/", "/", "", "^/*", "/"},
		{"/a.b", "/c", "/c", "", ""},
		{"/a.b/", "/", "", `^/a\.b/*`, "/"},
	} {
		p, re := prefixRewrite(tt.match, tt.repl)
		if p != tt.prefix || re.GetPattern().GetRegex() != tt.regex || re.GetSubstitution() != tt.sub {
			t.Errorf("prefixRewrite(%q, %q) = %q, %v; want %q, %q -> %q", tt.match, tt.repl, p, re, tt.prefix, tt.regex, tt.sub)
		}
	}
}

package route

import "testing"

func compileOne(r Route) (*Table, error) {
	r.Name = "r"
	return Compile(Config{VirtualHosts: []VirtualHost{{Name: "all", Domains: []string{"*"}, Routes: []Route{r}}}})
}

func TestRewritePath(t *testing.T) {
	for _, tt := range []struct {
		match      PathMatch
		rw         PathRewrite
		path, want string
	}{
		{PathMatch{Kind: PathPrefix, Value: "/foo"}, PathRewrite{Prefix: "/bar"}, "/foo/x", "/bar/x"},
		{PathMatch{Kind: PathPrefix, Value: "/foo"}, PathRewrite{Prefix: "/bar"}, "/foo", "/bar"},
		{PathMatch{Kind: PathExact, Value: "/foo"}, PathRewrite{Prefix: "/bar"}, "/foo", "/bar"},
		{PathMatch{Kind: PathPrefix, Value: "/"}, PathRewrite{Regex: "^/.*$", Substitution: "/all"}, "/a/b", "/all"},
		{PathMatch{Kind: PathPrefix, Value: "/"}, PathRewrite{Regex: "^/foo/*", Substitution: "/"}, "/foo//x", "/x"},
		{PathMatch{Kind: PathPrefix, Value: "/"}, PathRewrite{Regex: "a", Substitution: "$1"}, "/aa", "/$1$1"}, // literal, as Envoy's
	} {
		tbl, err := compileOne(Route{Match: Match{Path: tt.match}, Backends: []Backend{{Cluster: "c"}}, Rewrite: &Rewrite{Path: &tt.rw}})
		if err != nil {
			t.Fatal(err)
		}
		rt := tbl.Lookup([]byte("h"), []byte("GET"), []byte(tt.path), nil, nil)
		if got, ok := rt.RewritePath(nil, []byte(tt.path)); !ok || string(got) != tt.want {
			t.Errorf("%+v on %s = %s, want %s", tt.rw, tt.path, got, tt.want)
		}
	}
}

func TestURLFiltersRefusedAtCompile(t *testing.T) {
	for name, r := range map[string]Route{
		"redirect with backends": {Backends: []Backend{{Cluster: "c"}}, Redirect: &Redirect{Code: 302}},
		"redirect code":          {Redirect: &Redirect{Code: 200}},
		"redirect scheme":        {Redirect: &Redirect{Code: 302, Scheme: "ftp"}},
		"redirect host":          {Redirect: &Redirect{Code: 302, Host: "a b"}},
		"rewrite empty":          {Backends: []Backend{{Cluster: "c"}}, Rewrite: &Rewrite{}},
		"rewrite two paths":      {Backends: []Backend{{Cluster: "c"}}, Rewrite: &Rewrite{Path: &PathRewrite{Prefix: "/a", Regex: "b"}}},
		"rewrite full":           {Backends: []Backend{{Cluster: "c"}}, Rewrite: &Rewrite{Path: &PathRewrite{Full: "/a"}}},
		"rewrite crlf":           {Backends: []Backend{{Cluster: "c"}}, Rewrite: &Rewrite{Path: &PathRewrite{Prefix: "/a\r\nX: y"}}},
		"rewrite bad regex":      {Backends: []Backend{{Cluster: "c"}}, Rewrite: &Rewrite{Path: &PathRewrite{Regex: "("}}},
		"prefix of regex match":  {Match: Match{Path: PathMatch{Kind: PathRegex, Value: "/a"}}, Backends: []Backend{{Cluster: "c"}}, Rewrite: &Rewrite{Path: &PathRewrite{Prefix: "/b"}}},
		"mirror unnamed":         {Backends: []Backend{{Cluster: "c"}}, Mirrors: []Mirror{{}}},
		"mirror share":           {Backends: []Backend{{Cluster: "c"}}, Mirrors: []Mirror{{Cluster: "m", Numerator: 3, Denominator: 2}}},
		"too many mirrors":       {Backends: []Backend{{Cluster: "c"}}, Mirrors: make([]Mirror, MaxMirrors+1)},
	} {
		if _, err := compileOne(r); err == nil {
			t.Errorf("%s: compiled, want refused", name)
		}
	}
}

func TestMirrored(t *testing.T) {
	m := Mirror{Cluster: "m", Numerator: 1, Denominator: 4}
	n := 0
	for i := uint64(0); i < 400; i++ {
		if m.Mirrored(i) {
			n++
		}
	}
	if n != 100 || !(&Mirror{Cluster: "m"}).Mirrored(12345) {
		t.Errorf("mirrored %d of 400, want 100; an unset share mirrors all", n)
	}
}

// The hot path's rewrite of a prefix allocates nothing.
func TestRewritePathAllocs(t *testing.T) {
	tbl, _ := compileOne(Route{Match: Match{Path: PathMatch{Kind: PathPrefix, Value: "/foo"}}, Backends: []Backend{{Cluster: "c"}},
		Rewrite: &Rewrite{Path: &PathRewrite{Prefix: "/bar"}}})
	rt := tbl.Lookup([]byte("h"), []byte("GET"), []byte("/foo/x"), nil, nil)
	buf, p := make([]byte, 0, 64), []byte("/foo/x")
	if a := testing.AllocsPerRun(100, func() { buf, _ = rt.RewritePath(buf[:0], p) }); a != 0 {
		t.Errorf("%v allocs", a)
	}
}

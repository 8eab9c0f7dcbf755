package route

import (
	"fmt"
	"strings"
	"testing"
)

type hdrs map[string]string

func (h hdrs) Get(name string) ([]byte, bool) {
	v, ok := h[name]
	return []byte(v), ok
}

func testTable(t testing.TB) *Table {
	t.Helper()
	tbl, err := Compile(Config{VirtualHosts: []VirtualHost{
		{Name: "catalog", Domains: []string{"catalog", "Catalog.Example.com"}, Routes: []Route{
			{Name: "canary", Match: Match{Headers: []HeaderMatch{{Name: "X-Canary", Value: "always"}}}, Backends: []Backend{{Cluster: "catalog/v2"}}},
			{Name: "exact", Match: Match{Path: PathMatch{Kind: PathExact, Value: "/health"}}, Backends: []Backend{{Cluster: "health"}}},
			{Name: "api-get", Match: Match{Method: "GET", Path: PathMatch{Value: "/api"}}, Backends: []Backend{{Cluster: "api"}}},
			{Name: "re", Match: Match{Path: PathMatch{Kind: PathRegex, Value: "/items/[0-9]+"}}, Backends: []Backend{{Cluster: "items"}}},
			{Name: "query", Match: Match{Query: []QueryMatch{{Name: "debug", Kind: MatchPresent}}}, Backends: []Backend{{Cluster: "debug"}}},
			{Name: "not-beta", Match: Match{Headers: []HeaderMatch{{Name: "x-beta", Kind: MatchPresent, Invert: true}}, Path: PathMatch{Value: "/nb"}}, Backends: []Backend{{Cluster: "nb"}}},
			{Name: "default", Backends: []Backend{{Cluster: "catalog"}}},
		}},
		{Name: "wild", Domains: []string{"*.svc.local"}, Routes: []Route{{Name: "w", Backends: []Backend{{Cluster: "wild"}}}}},
		{Name: "wild-deeper", Domains: []string{"*.a.svc.local"}, Routes: []Route{{Name: "wa", Backends: []Backend{{Cluster: "wild-a"}}}}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	return tbl
}

func TestLookup(t *testing.T) {
	tbl := testTable(t)
	tests := []struct {
		host, method, target string
		h                    hdrs
		want                 string
	}{
		{"catalog", "GET", "/", nil, "default"},
		{"catalog.example.com", "GET", "/", nil, "default"},
		{"catalog", "GET", "/x", hdrs{"x-canary": "always"}, "canary"},
		{"catalog", "GET", "/x", hdrs{"x-canary": "never"}, "default"},
		{"catalog", "GET", "/health", nil, "exact"},
		{"catalog", "GET", "/health/x", nil, "default"},
		{"catalog", "GET", "/api", nil, "api-get"},
		{"catalog", "GET", "/api/v1", nil, "api-get"},
		{"catalog", "GET", "/apix", nil, "default"},
		{"catalog", "POST", "/api", nil, "default"},
		{"catalog", "GET", "/items/42", nil, "re"},
		{"catalog", "GET", "/items/42x", nil, "default"},
		{"catalog", "GET", "/q?a=1&debug", nil, "query"},
		{"catalog", "GET", "/q?debugx=1", nil, "default"},
		{"catalog", "GET", "/nb", nil, "not-beta"},
		{"catalog", "GET", "/nb", hdrs{"x-beta": "1"}, "default"},
		{"x.svc.local", "GET", "/", nil, "w"},
		{"y.a.svc.local", "GET", "/", nil, "wa"},
		{"svc.local", "GET", "/", nil, ""},
		{"other", "GET", "/", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.host+tt.target, func(t *testing.T) {
			path, q, err := NormalizePath(nil, []byte(tt.target))
			if err != nil {
				t.Fatal(err)
			}
			h := tt.h
			if h == nil {
				h = hdrs{}
			}
			r := tbl.Lookup([]byte(tt.host), []byte(tt.method), path, q, h)
			got := ""
			if r != nil {
				got = r.Name
			}
			if got != tt.want {
				t.Fatalf("route %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{"dup domain", Config{VirtualHosts: []VirtualHost{
			{Domains: []string{"a"}, Routes: []Route{{Backends: []Backend{{Cluster: "a"}}}}},
			{Domains: []string{"A"}, Routes: []Route{{Backends: []Backend{{Cluster: "a"}}}}},
		}}, "virtualHosts[1].domains[0]: domain \"A\" is already served by virtualHosts[0]"},
		{"bad regex", Config{VirtualHosts: []VirtualHost{{Domains: []string{"a"}, Routes: []Route{
			{Match: Match{Path: PathMatch{Kind: PathRegex, Value: "(a"}}, Backends: []Backend{{Cluster: "a"}}}}}}},
			"virtualHosts[0].routes[0].match.path.value: invalid regex"},
		{"no backends", Config{VirtualHosts: []VirtualHost{{Domains: []string{"a"}, Routes: []Route{{}}}}},
			"virtualHosts[0].routes[0].backends: must name at least one backend"},
		{"zero weights", Config{VirtualHosts: []VirtualHost{{Domains: []string{"a"}, Routes: []Route{
			{Backends: []Backend{{Cluster: "a"}, {Cluster: "b"}}}}}}}, "weights must not all be 0"},
		{"bad header name", Config{VirtualHosts: []VirtualHost{{Domains: []string{"a"}, Routes: []Route{
			{Match: Match{Headers: []HeaderMatch{{Name: "bad name"}}}, Backends: []Backend{{Cluster: "a"}}}}}}},
			"virtualHosts[0].routes[0].match.headers[0]: name \"bad name\" is not a valid token"},
		{"huge regex", Config{VirtualHosts: []VirtualHost{{Domains: []string{"a"}, Routes: []Route{
			{Match: Match{Path: PathMatch{Kind: PathRegex, Value: strings.Repeat("a", 2000)}}, Backends: []Backend{{Cluster: "a"}}}}}}},
			"regex longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestPickBackendWeights(t *testing.T) {
	tbl, err := Compile(Config{VirtualHosts: []VirtualHost{{Domains: []string{"*"}, Routes: []Route{
		{Backends: []Backend{{Cluster: "a", Weight: 90}, {Cluster: "b", Weight: 10}, {Cluster: "c", Weight: 0}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	r := tbl.Lookup([]byte("x"), []byte("GET"), []byte("/"), nil, hdrs{})
	counts := map[string]int{}
	for i := uint64(0); i < 1000; i++ {
		counts[r.PickBackend(i)]++
	}
	if counts["a"] != 900 || counts["b"] != 100 || counts["c"] != 0 {
		t.Fatalf("counts %v", counts)
	}
}

func FuzzLookup(f *testing.F) {
	tbl := testTable(f)
	f.Add("catalog", "GET", "/api/x?debug=1", "x-canary", "always")
	f.Add("x.svc.local", "POST", "/items/1", "x-beta", "")
	f.Fuzz(func(t *testing.T, host, method, target, hn, hv string) {
		h, err := NormalizeHost(nil, []byte(host))
		if err != nil {
			return
		}
		p, q, err := NormalizePath(nil, []byte(target))
		if err != nil {
			return
		}
		r := tbl.Lookup(h, []byte(method), p, q, hdrs{strings.ToLower(hn): hv})
		if r != nil && len(r.Backends) == 0 {
			t.Fatal("matched a route with no backends")
		}
	})
}

func BenchmarkLookup(b *testing.B) {
	var vhs []VirtualHost
	for i := 0; i < 100; i++ {
		vh := VirtualHost{Name: fmt.Sprint(i), Domains: []string{fmt.Sprintf("svc-%d", i)}}
		for j := 0; j < 10; j++ {
			vh.Routes = append(vh.Routes, Route{Match: Match{Path: PathMatch{Value: fmt.Sprintf("/p%d", j)}, Headers: []HeaderMatch{{Name: "x-v", Value: "1"}}},
				Backends: []Backend{{Cluster: "a", Weight: 1}, {Cluster: "b", Weight: 1}}})
		}
		vhs = append(vhs, vh)
	}
	tbl, err := Compile(Config{VirtualHosts: vhs})
	if err != nil {
		b.Fatal(err)
	}
	h := &oneHeader{name: "x-v", value: []byte("1")}
	host, method, path := []byte("svc-57"), []byte("GET"), []byte("/p9/items")
	b.ReportAllocs()
	for b.Loop() {
		if tbl.Lookup(host, method, path, nil, h) == nil {
			b.Fatal("no match")
		}
	}
}

type oneHeader struct {
	name  string
	value []byte
}

func (o oneHeader) Get(name string) ([]byte, bool) {
	if name == o.name {
		return o.value, true
	}
	return nil, false
}

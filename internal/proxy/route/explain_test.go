package route

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func explainReq(t testing.TB, tbl *Table, host, method, target string, h hdrs) Explanation {
	t.Helper()
	nh, err := NormalizeHost(nil, []byte(host))
	if err != nil {
		t.Fatal(err)
	}
	p, q, err := NormalizePath(nil, []byte(target))
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = hdrs{}
	}
	return tbl.Explain(nh, []byte(method), p, q, h)
}

// outcomes renders each rule as "name: outcome (reason)".
func outcomes(e Explanation) []string {
	var out []string
	for _, r := range e.Rules {
		s := r.Name + ": " + r.Outcome
		if r.Reason != "" {
			s += " (" + r.Reason + ")"
		}
		out = append(out, s)
	}
	return out
}

func TestExplain(t *testing.T) {
	tbl := testTable(t)
	tests := []struct {
		name, host, method, target string
		h                          hdrs
		vhost, domain              string
		want                       []string
	}{
		{name: "host mismatch", host: "other", method: "GET", target: "/"},
		{name: "wildcard host", host: "X.A.svc.local:8080", method: "GET", target: "/", vhost: "wild-deeper", domain: "*.a.svc.local",
			want: []string{"wa: match"}},
		{name: "header matched canary first", host: "Catalog.", method: "GET", target: "/api", h: hdrs{"x-canary": "always"}, vhost: "catalog", domain: "catalog",
			want: []string{
				"canary: match",
				"exact: not reached (rule 0 matched first)",
				"api-get: not reached (rule 0 matched first (this one would match too))",
				"re: not reached (rule 0 matched first)",
				"query: not reached (rule 0 matched first)",
				"not-beta: not reached (rule 0 matched first)",
				"default: not reached (rule 0 matched first (this one would match too))",
			}},
		{name: "header and path and method mismatches", host: "catalog", method: "POST", target: "/api//v1/../x?debugx=1", h: hdrs{"x-canary": "never", "x-beta": "1"},
			vhost: "catalog", domain: "catalog",
			want: []string{
				`canary: no match (header x-canary: want = "always", request has "never")`,
				`exact: no match (path: want exactly /health, request path is /api/x)`,
				`api-get: no match (method: want GET, request is POST)`,
				`re: no match (path: want matching regex "/items/[0-9]+", request path is /api/x)`,
				`query: no match (query debug: want present, request has none)`,
				`not-beta: no match (path: want prefix /nb, request path is /api/x)`,
				`default: match`,
			}},
		{name: "inverted header", host: "catalog", method: "GET", target: "/nb", h: hdrs{"x-beta": "yes"}, vhost: "catalog", domain: "catalog",
			want: []string{
				`canary: no match (header x-canary: want = "always", request has none)`,
				`exact: no match (path: want exactly /health, request path is /nb)`,
				`api-get: no match (path: want prefix /api, request path is /nb)`,
				`re: no match (path: want matching regex "/items/[0-9]+", request path is /nb)`,
				`query: no match (query debug: want present, request has none)`,
				`not-beta: no match (header x-beta: want not present, request has "yes")`,
				`default: match`,
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := explainReq(t, tbl, tt.host, tt.method, tt.target, tt.h)
			if e.VirtualHost != tt.vhost || e.Domain != tt.domain {
				t.Errorf("virtual host %q via %q, want %q via %q", e.VirtualHost, e.Domain, tt.vhost, tt.domain)
			}
			if d := cmp.Diff(tt.want, outcomes(e)); d != "" {
				t.Errorf("rules (-want +got):\n%s", d)
			}
			if (e.Matched < 0) != (e.Route == nil) || e.Matched >= 0 && e.Rules[e.Matched].Name != e.Route.Name {
				t.Errorf("matched %d but route %v", e.Matched, e.Route)
			}
		})
	}
}

func TestExplainConditions(t *testing.T) {
	e := explainReq(t, testTable(t), "catalog", "GET", "/", nil)
	got := map[string]string{}
	for _, r := range e.Rules {
		got[r.Name] = strings.Join(r.Conditions, " & ")
	}
	want := map[string]string{
		"canary":   `header x-canary = "always"`,
		"exact":    "path exactly /health",
		"api-get":  "method GET & path prefix /api",
		"re":       `path matching regex "/items/[0-9]+"`,
		"query":    "query debug present",
		"not-beta": "path prefix /nb & header x-beta not present",
		"default":  "",
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("conditions (-want +got):\n%s", d)
	}
}

func TestShares(t *testing.T) {
	tests := []struct {
		name     string
		backends []Backend
		want     []Share
	}{
		{"single unweighted", []Backend{{Cluster: "a"}}, []Share{{Cluster: "a", Percent: 100}}},
		{"split", []Backend{{Cluster: "a", Weight: 90}, {Cluster: "b", Weight: 10}, {Cluster: "c"}},
			[]Share{{"a", 90, 90}, {"b", 10, 10}, {"c", 0, 0}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tbl, err := Compile(Config{VirtualHosts: []VirtualHost{{Domains: []string{"*"}, Routes: []Route{{Backends: tt.backends}}}}})
			if err != nil {
				t.Fatal(err)
			}
			e := explainReq(t, tbl, "x", "GET", "/", nil)
			if e.Route == nil {
				t.Fatal("no route")
			}
			if d := cmp.Diff(tt.want, e.Route.Shares()); d != "" {
				t.Errorf("shares (-want +got):\n%s", d)
			}
			// The shares are what PickBackend does.
			counts := map[string]float64{}
			for i := uint64(0); i < 1000; i++ {
				counts[e.Route.PickBackend(i)]++
			}
			for _, s := range tt.want {
				if got := counts[s.Cluster] / 10; got != s.Percent {
					t.Errorf("%s: PickBackend gave %.1f%%, Shares says %.1f%%", s.Cluster, got, s.Percent)
				}
			}
		})
	}
}

// Explain and Lookup agree on every request: the same rule, or none.
func FuzzExplainAgreesWithLookup(f *testing.F) {
	tbl := testTable(f)
	f.Add("catalog", "GET", "/api/x?debug=1", "x-canary", "always")
	f.Add("x.svc.local", "POST", "/items/1", "x-beta", "")
	f.Add("catalog", "GET", "/nb", "x-beta", "1")
	f.Fuzz(func(t *testing.T, host, method, target, hn, hv string) {
		h, err := NormalizeHost(nil, []byte(host))
		if err != nil {
			return
		}
		p, q, err := NormalizePath(nil, []byte(target))
		if err != nil {
			return
		}
		hd := hdrs{strings.ToLower(hn): hv}
		r := tbl.Lookup(h, []byte(method), p, q, hd)
		e := tbl.Explain(h, []byte(method), p, q, hd)
		if e.Route != r {
			t.Fatalf("Explain chose %v, Lookup %v", e.Route, r)
		}
		for i, rt := range e.Rules {
			if rt.Outcome == OutcomeNoMatch && strings.HasPrefix(rt.Reason, "a condition") {
				t.Fatalf("rule %d: no reason named", i)
			}
		}
	})
}

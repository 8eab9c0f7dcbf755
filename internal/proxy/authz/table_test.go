package authz

import (
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

type hdrs map[string]string

func (h hdrs) Get(name string) ([]byte, bool) {
	v, ok := h[name]
	return []byte(v), ok
}

func authn(kind MatchKind, v string) Principal {
	return Principal{Authenticated: &Authenticated{Name: &StringMatch{Kind: kind, Value: v}}}
}

func pathPerm(kind MatchKind, v string, fold bool) Permission {
	return Permission{Path: &StringMatch{Kind: kind, Value: v, IgnoreCase: fold}}
}

var anyPrincipal = []Principal{{Any: true}}
var anyPermission = []Permission{{Any: true}}

const web = "spiffe://weft.local/ns/shop/sa/web"

func mustCompile(t testing.TB, cfg Config) *Table {
	t.Helper()
	tb, err := Compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

func TestEvaluate(t *testing.T) {
	denyAdmin := Filter{Action: Deny, Policies: []Policy{{Name: "deny-admin", Principals: anyPrincipal,
		Permissions: []Permission{{Or: []Permission{pathPerm(Exact, "/admin", true), pathPerm(Prefix, "/admin/", true)}}}}}}
	allowWeb := Filter{Action: Allow, Policies: []Policy{{Name: "allow-web", Permissions: anyPermission, Principals: []Principal{authn(Exact, web)}}}}
	allowNone := Filter{Action: Allow}
	tests := []struct {
		name    string
		filters []Filter
		req     Request
		allowed bool
		policy  string
	}{
		{"no filters allow", nil, Request{Path: []byte("/admin")}, true, ""},
		{"deny matches", []Filter{denyAdmin}, Request{Path: []byte("/admin")}, false, "deny-admin"},
		{"deny ignores case", []Filter{denyAdmin}, Request{Path: []byte("/ADMIN/x")}, false, "deny-admin"},
		{"deny segment-aware", []Filter{denyAdmin}, Request{Path: []byte("/administrator")}, true, ""},
		{"deny beats allow", []Filter{denyAdmin, allowWeb}, Request{Peer: web, Path: []byte("/admin")}, false, "deny-admin"},
		{"allow by identity", []Filter{denyAdmin, allowWeb}, Request{Peer: web, Path: []byte("/items")}, true, "allow-web"},
		{"other identity", []Filter{allowWeb}, Request{Peer: "spiffe://weft.local/ns/shop/sa/evil", Path: []byte("/")}, false, NoPolicy},
		{"plaintext has no identity", []Filter{allowWeb}, Request{Path: []byte("/")}, false, NoPolicy},
		{"empty allow denies all", []Filter{allowNone}, Request{Peer: web, Path: []byte("/")}, false, NoPolicy},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustCompile(t, Config{Filters: tt.filters}).Evaluate(&tt.req)
			if d.Allowed != tt.allowed || d.Policy != tt.policy {
				t.Fatalf("Evaluate = %+v, want allowed %v policy %q", d, tt.allowed, tt.policy)
			}
		})
	}
}

func TestMatchers(t *testing.T) {
	r := Request{Peer: web, Method: []byte("GET"), Host: []byte("catalog.shop"), Path: []byte("/a/b.json"), Port: 8080,
		Headers: hdrs{"x-tenant": "Acme"}}
	tests := []struct {
		name string
		perm Permission
		prin Principal
		want bool
	}{
		{"method", Permission{Header: &HeaderMatch{Name: ":method", Match: &StringMatch{Value: "GET"}}}, Principal{Any: true}, true},
		{"method other", Permission{Header: &HeaderMatch{Name: ":method", Match: &StringMatch{Value: "POST"}}}, Principal{Any: true}, false},
		{"authority suffix fold", Permission{Header: &HeaderMatch{Name: ":authority", Match: &StringMatch{Kind: Suffix, Value: ".SHOP", IgnoreCase: true}}}, Principal{Any: true}, true},
		{"header exact", Permission{Header: &HeaderMatch{Name: "X-Tenant", Match: &StringMatch{Value: "Acme"}}}, Principal{Any: true}, true},
		{"header case matters", Permission{Header: &HeaderMatch{Name: "x-tenant", Match: &StringMatch{Value: "acme"}}}, Principal{Any: true}, false},
		{"header present", Permission{Header: &HeaderMatch{Name: "x-tenant", Present: true}}, Principal{Any: true}, true},
		{"header absent inverted", Permission{Header: &HeaderMatch{Name: "x-other", Present: true, Invert: true}}, Principal{Any: true}, true},
		{"path suffix", pathPerm(Suffix, ".json", false), Principal{Any: true}, true},
		{"path contains", pathPerm(Contains, "/b", false), Principal{Any: true}, true},
		{"path regex", pathPerm(Regex, "/a/[a-z]+\\.json", false), Principal{Any: true}, true},
		{"path regex anchored", pathPerm(Regex, "/a", false), Principal{Any: true}, false},
		{"port", Permission{Port: 8080}, Principal{Any: true}, true},
		{"port other", Permission{Port: 80}, Principal{Any: true}, false},
		{"not", Permission{Not: &Permission{Port: 80}}, Principal{Any: true}, true},
		{"and", Permission{And: []Permission{{Port: 8080}, pathPerm(Prefix, "/a/", false)}}, Principal{Any: true}, true},
		{"principal prefix", Permission{Any: true}, authn(Prefix, "spiffe://weft.local/ns/shop/"), true},
		{"principal suffix", Permission{Any: true}, authn(Suffix, "/sa/web"), true},
		{"principal namespace regex", Permission{Any: true}, authn(Regex, `spiffe://[^/]+/ns/shop/sa/[^/]+`), true},
		{"principal namespace regex other", Permission{Any: true}, authn(Regex, `spiffe://[^/]+/ns/ops/sa/[^/]+`), false},
		{"any authenticated", Permission{Any: true}, Principal{Authenticated: &Authenticated{}}, true},
		{"not principal", Permission{Any: true}, Principal{Not: &Principal{Authenticated: &Authenticated{}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := mustCompile(t, Config{Filters: []Filter{{Action: Allow, Policies: []Policy{{Name: "p", Permissions: []Permission{tt.perm}, Principals: []Principal{tt.prin}}}}}})
			if got := tb.Evaluate(&r).Allowed; got != tt.want {
				t.Fatalf("allowed = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestCompileRefuses(t *testing.T) {
	deep := Permission{Any: true}
	for range maxDepth + 2 {
		deep = Permission{Not: &deep}
	}
	for name, cfg := range map[string]Config{
		"unnamed":        {Filters: []Filter{{Policies: []Policy{{Permissions: anyPermission, Principals: anyPrincipal}}}}},
		"no principals":  {Filters: []Filter{{Policies: []Policy{{Name: "p", Permissions: anyPermission}}}}},
		"two rules":      {Filters: []Filter{{Policies: []Policy{{Name: "p", Permissions: []Permission{{Any: true, Port: 1}}, Principals: anyPrincipal}}}}},
		"empty rule":     {Filters: []Filter{{Policies: []Policy{{Name: "p", Permissions: []Permission{{}}, Principals: anyPrincipal}}}}},
		"bad regex":      {Filters: []Filter{{Policies: []Policy{{Name: "p", Permissions: []Permission{pathPerm(Regex, "(", false)}, Principals: anyPrincipal}}}}},
		"empty prefix":   {Filters: []Filter{{Policies: []Policy{{Name: "p", Permissions: []Permission{pathPerm(Prefix, "", false)}, Principals: anyPrincipal}}}}},
		"pseudo header":  {Filters: []Filter{{Policies: []Policy{{Name: "p", Permissions: []Permission{{Header: &HeaderMatch{Name: ":path", Present: true}}}, Principals: anyPrincipal}}}}},
		"too deep":       {Filters: []Filter{{Policies: []Policy{{Name: "p", Permissions: []Permission{deep}, Principals: anyPrincipal}}}}},
		"too many filts": {Filters: make([]Filter, maxFilters+1)},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Compile(cfg); err == nil {
				t.Fatal("compiled")
			}
		})
	}
}

// The allow path must not allocate: it runs on every inbound request.
func TestEvaluateDoesNotAllocate(t *testing.T) {
	tb := mustCompile(t, Config{Filters: []Filter{
		{Action: Deny, Policies: []Policy{{Name: "d", Principals: anyPrincipal, Permissions: []Permission{pathPerm(Prefix, "/admin/", true)}}}},
		{Action: Allow, Policies: []Policy{{Name: "a", Principals: []Principal{authn(Prefix, "spiffe://weft.local/")},
			Permissions: []Permission{{And: []Permission{{Header: &HeaderMatch{Name: ":method", Match: &StringMatch{Value: "GET"}}}, pathPerm(Regex, "/items/[0-9]+", false)}}}}}},
	}})
	r := &Request{Peer: web, Method: []byte("GET"), Path: []byte("/items/42"), Headers: hdrs{}}
	if n := testing.AllocsPerRun(1000, func() {
		if !tb.Evaluate(r).Allowed {
			t.Fatal("denied")
		}
	}); n != 0 {
		t.Fatalf("%v allocs per evaluation, want 0", n)
	}
}

func BenchmarkEvaluateAllow(b *testing.B) {
	tb := mustCompile(b, Config{Filters: []Filter{
		{Action: Deny, Policies: []Policy{{Name: "d", Principals: anyPrincipal, Permissions: []Permission{pathPerm(Prefix, "/admin/", true)}}}},
		{Action: Allow, Policies: []Policy{{Name: "a", Principals: []Principal{authn(Exact, web)}, Permissions: anyPermission}}},
	}})
	r := &Request{Peer: web, Method: []byte("GET"), Path: []byte("/items/42")}
	b.ReportAllocs()
	for b.Loop() {
		tb.Evaluate(r)
	}
}

// FuzzNormalizedDeny normalises arbitrary request targets the way both
// engines do and evaluates a DENY /admin policy (as translate builds it)
// on the result: normalisation is idempotent, and any target whose
// normalised path is /admin or under it, in any case, is denied. What the
// normaliser refuses is answered 400 and never reaches the app.
func FuzzNormalizedDeny(f *testing.F) {
	for _, s := range []string{"/admin", "//admin", "/./admin", "/x/../admin", "/%61dmin", "/admin%2F", "/%2e%2e/admin",
		"/ADMIN", "/Admin/x", "/admin;x", "/admin;x/y", "/admin?x", "/a/%2e./admin", "/%2E/admin/"} {
		f.Add(s)
	}
	tb, err := Compile(Config{Filters: []Filter{{Action: Deny, Policies: []Policy{{Name: "deny-admin", Principals: anyPrincipal,
		Permissions: []Permission{{Or: []Permission{pathPerm(Exact, "/admin", true), pathPerm(Prefix, "/admin/", true)}}}}}}}})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target string) {
		path, _, err := route.NormalizePath(nil, []byte(target))
		if err != nil {
			return
		}
		again, q, err := route.NormalizePath(nil, path)
		if err != nil || string(again) != string(path) || len(q) != 0 && !strings.Contains(string(path), "?") {
			t.Fatalf("normalising %q gave %q, then %q (%v): not idempotent", target, path, again, err)
		}
		isAdmin := func(p []byte) bool {
			lp := strings.ToLower(string(p))
			return lp == "/admin" || strings.HasPrefix(lp, "/admin/")
		}
		bare := StripParams(nil, path)
		admin := isAdmin(path) || bare != nil && isAdmin(bare)
		if d := tb.Evaluate(&Request{Path: path, ParamlessPath: bare}); d.Allowed == admin {
			t.Fatalf("%q normalised to %q: allowed = %v", target, path, d.Allowed)
		}
	})
}

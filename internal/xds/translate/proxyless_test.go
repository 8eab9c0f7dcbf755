package translate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/internal/mesh"
)

func validateAll(t *testing.T, s *Snapshot) {
	t.Helper()
	type validator interface{ ValidateAll() error }
	var all []validator
	for _, c := range s.Clusters {
		all = append(all, c)
	}
	for _, e := range s.Endpoints {
		all = append(all, e)
	}
	for _, l := range s.Listeners {
		all = append(all, l)
	}
	for _, r := range s.Routes {
		all = append(all, r)
	}
	for _, v := range all {
		if err := v.ValidateAll(); err != nil {
			t.Errorf("%T: %v", v, err)
		}
	}
}

func TestProxylessGolden(t *testing.T) {
	snap, err := Proxyless(input(t), []string{"catalog", "payments.default:9000", "nosuch", "catalog"})
	if err != nil {
		t.Fatal(err)
	}
	validateAll(t, snap)
	path := filepath.Join("testdata", "proxyless.golden.json")
	got := golden(t, snap)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if normalize(t, got) != normalize(t, want) {
		t.Fatalf("snapshot differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

// What gRPC's xDS client checks (gRFC A27, A28): the Listener is named as
// the target and holds an API listener over RDS/ADS ending in the router;
// the RouteConfiguration's virtual host matches the target; only path
// specifiers gRPC knows; clusters are EDS over ADS; localities weighted.
func TestProxylessShape(t *testing.T) {
	snap, err := Proxyless(input(t), []string{"catalog.default.svc.cluster.local", "nosuch", "payments.other"})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Listeners) != 1 || snap.Listeners[0].Name != "catalog.default.svc.cluster.local" || snap.Listeners[0].ApiListener == nil {
		t.Fatalf("listeners %v", snap.Listeners)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := snap.Listeners[0].ApiListener.ApiListener.UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	rds := hcm.GetRds()
	if rds.GetConfigSource().GetAds() == nil || rds.GetRouteConfigName() != "catalog.default.svc.cluster.local" {
		t.Fatalf("rds %v", rds)
	}
	if f := hcm.HttpFilters; len(f) == 0 || f[len(f)-1].GetTypedConfig().GetTypeUrl() != "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" {
		t.Fatalf("the router filter must be last: %v", f)
	}
	if len(snap.Routes) != 1 || len(snap.Routes[0].VirtualHosts) != 1 {
		t.Fatalf("routes %v", snap.Routes)
	}
	vh := snap.Routes[0].VirtualHosts[0]
	if !contains(vh.Domains, "catalog.default.svc.cluster.local") {
		t.Fatalf("domains %v", vh.Domains)
	}
	// The canary rule matches GET, which a gRPC call never is; the regex
	// path's match needs a query parameter: both go. The /api prefix stays
	// as a regex, with the rule's timeout as max_stream_duration.
	var names []string
	for _, r := range vh.Routes {
		names = append(names, r.Name)
		if _, ok := r.Match.PathSpecifier.(*routev3.RouteMatch_PathSeparatedPrefix); ok {
			t.Errorf("route %s keeps a path_separated_prefix, which gRPC NACKs", r.Name)
		}
		if r.GetRoute().GetTimeout() != nil {
			t.Errorf("route %s: timeout is not what gRPC reads", r.Name)
		}
	}
	if got := strings.Join(names, ","); got != "default/catalog-split/rule-1/match-0,default/catalog-split/legacy/match-0,default/catalog-split/moved/match-0,catalog.default/default" {
		t.Fatalf("routes %s", got)
	}
	api := vh.Routes[0]
	if re := api.Match.GetSafeRegex().GetRegex(); re != `/api(/.*)?` {
		t.Fatalf("prefix regex %q", re)
	}
	if d := api.GetRoute().GetMaxStreamDuration().GetMaxStreamDuration().AsDuration().String(); d != "5s" {
		t.Fatalf("max_stream_duration %s", d)
	}
	if len(snap.Clusters) != 3 {
		t.Fatalf("clusters %v", snap.Clusters)
	}
	for _, c := range snap.Clusters {
		if c.GetEdsClusterConfig().GetEdsConfig().GetAds() == nil || c.LbPolicy.String() != "RING_HASH" {
			t.Errorf("cluster %s: %v", c.Name, c)
		}
	}
	for _, e := range snap.Endpoints {
		for _, loc := range e.Endpoints {
			if loc.GetLoadBalancingWeight().GetValue() == 0 {
				t.Errorf("%s: locality %v has no weight, which gRPC ignores", e.ClusterName, loc.Locality)
			}
		}
	}
}

// Route hostnames and SERVICE.NAMESPACE forms resolve; a malformed port
// or an unknown namespace does not.
func TestResolveListener(t *testing.T) {
	in := input(t)
	for name, want := range map[string]int{
		"catalog.example.com": 1, "catalog:80": 1, "catalog.default": 1, "catalog.default.svc": 1,
		"catalog:http": 0, "catalog.shop": 0, "catalog.default.other": 0, "": 0,
	} {
		snap, err := Proxyless(in, []string{name})
		if err != nil {
			t.Fatal(err)
		}
		if len(snap.Listeners) != want {
			t.Errorf("%q: %d listeners, want %d", name, len(snap.Listeners), want)
		}
	}
}

// Listener names come from any client that connects: whatever they are,
// the translation neither fails nor invents a Listener nobody asked for,
// and what it builds passes Envoy's field validation.
func FuzzProxylessNames(f *testing.F) {
	for _, s := range []string{"catalog", "catalog.default:80", "catalog.example.com", "a.b.c.d", ":", "catalog:99999", "\xff", ""} {
		f.Add(s, "payments.default")
	}
	rs, err := mesh.Decode([]byte(resources))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		snap, err := Proxyless(Input{Resources: rs}, []string{a, b})
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range snap.Listeners {
			if l.Name != a && l.Name != b {
				t.Fatalf("listener %q not asked for", l.Name)
			}
			if _, err := proto.Marshal(l); err != nil {
				t.Fatalf("listener %q: %v", l.Name, err)
			}
		}
		if len(snap.Listeners) != len(snap.Routes) {
			t.Fatalf("%d listeners, %d route configs", len(snap.Listeners), len(snap.Routes))
		}
	})
}

// gRPC's router has no rewrites or mirrors: proxyless routes carry none.
func TestProxylessDropsRewritesAndMirrors(t *testing.T) {
	snap, err := Proxyless(input(t), []string{"catalog"})
	if err != nil {
		t.Fatal(err)
	}
	for _, vh := range snap.Routes[0].VirtualHosts {
		for _, r := range vh.Routes {
			a := r.GetRoute()
			if a.GetPrefixRewrite() != "" || a.GetRegexRewrite() != nil || a.GetHostRewriteSpecifier() != nil || len(a.GetRequestMirrorPolicies()) > 0 {
				t.Errorf("route %s keeps a rewrite or mirror: %v", r.Name, a)
			}
		}
	}
}

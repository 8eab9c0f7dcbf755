package sidecar

import (
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// weft explain and /config show a route's URL filters.
func TestExplainAndDumpShowURLFilters(t *testing.T) {
	rt := &route.Route{Name: "r", Backends: []route.Backend{{Cluster: "c"}},
		Rewrite: &route.Rewrite{Host: "new.example", Path: &route.PathRewrite{Prefix: "/api"}},
		Mirrors: []route.Mirror{{Cluster: "shadow", Numerator: 10, Denominator: 100}}}
	p := routePolicy(rt)
	if !strings.Contains(string(p["Rewrite"]), `"Host":"new.example"`) || !strings.Contains(string(p["Mirrors"]), `"Cluster":"shadow"`) {
		t.Errorf("explain policy %s", p)
	}
	rd := &route.Route{Name: "rd", Redirect: &route.Redirect{Scheme: "https", Code: 301}}
	if p := routePolicy(rd); !strings.Contains(string(p["Redirect"]), `"Code":301`) {
		t.Errorf("explain policy %s", p)
	}
	d := dumpRoutes(route.Config{VirtualHosts: []route.VirtualHost{{Name: "v", Domains: []string{"*"}, Routes: []route.Route{*rt, *rd}}}})
	if r := d[0].Routes; r[0].Rewrite == nil || len(r[0].Mirrors) != 1 || r[1].Redirect == nil || r[1].Redirect.Code != 301 {
		t.Errorf("dump %+v", r)
	}
}

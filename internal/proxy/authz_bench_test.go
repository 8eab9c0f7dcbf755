package proxy

import (
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// BenchmarkHTTP1ProxyAuthz is BenchmarkHTTP1Proxy with an inbound
// authorization table the request passes (a DENY /admin filter, then an
// ALLOW of GETs under /items): the cost of the allow path, which must not
// allocate.
func BenchmarkHTTP1ProxyAuthz(b *testing.B) {
	up := rawUpstream(b)
	rt := newRuntime(&testing.T{}, up, cluster.HTTP1, 0)
	cfg := denyAdmin()
	cfg.Filters = append(cfg.Filters, authz.Filter{Action: authz.Allow, Policies: []authz.Policy{{
		Name: "allow-gets", Principals: []authz.Principal{{Any: true}},
		Permissions: []authz.Permission{{And: []authz.Permission{
			{Header: &authz.HeaderMatch{Name: ":method", Match: &authz.StringMatch{Value: "GET"}}},
			{Path: &authz.StringMatch{Kind: authz.Prefix, Value: "/"}},
		}}},
	}}})
	tb, err := authz.Compile(cfg)
	if err != nil {
		b.Fatal(err)
	}
	next := *rt.Load()
	next.Authz = tb
	rt.Store(&next)
	benchHTTP1(b, rt)
}

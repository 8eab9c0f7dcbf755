package proxy

import (
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// BenchmarkHTTP1ProxyURLRewrite is BenchmarkHTTP1Proxy on a route that
// rewrites the path prefix and the Host: allocs/op must stay 0.
func BenchmarkHTTP1ProxyURLRewrite(b *testing.B) {
	up := rawUpstream(b)
	benchHTTP1(b, filteredRuntime(b, up, cluster.HTTP1, func(r *route.Route) {
		r.Match.Path = route.PathMatch{Kind: route.PathPrefix, Value: "/"}
		r.Rewrite = &route.Rewrite{Host: "catalog.internal", Path: &route.PathRewrite{Prefix: "/api/"}}
	}))
}

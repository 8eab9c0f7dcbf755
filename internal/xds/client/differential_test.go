package client

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// cmpRoutes compares route configs; route.Route's unexported field is set
// only by route.Compile, so it is nil on both sides.
var cmpRoutes = cmp.AllowUnexported(route.Route{}, route.HeaderMods{}, route.PathRewrite{})

// The client's decoders must turn translate's output into exactly what
// xdstest.ToProxy makes of it, nil slices and all.
func TestDecodeMatchesToProxy(t *testing.T) {
	snap := meshSnapshot(t)
	wantRoutes, wantClusters := realUpdate(t, snap)

	st := newState()
	st.clusters = map[string]cluster.Config{}
	for _, c := range snap.Clusters {
		cc, err := decodeCluster(marshal(t, c))
		if err != nil {
			t.Fatalf("cluster %s: %v", c.Name, err)
		}
		st.clusters[cc.Name] = cc
	}
	for _, e := range snap.Endpoints {
		name, eps, err := decodeEndpoints(marshal(t, e))
		if err != nil {
			t.Fatalf("endpoints %s: %v", e.ClusterName, err)
		}
		st.endpoints[name] = eps
	}
	name, rc, err := decodeRoutes(marshal(t, snap.Routes[0]))
	if err != nil {
		t.Fatalf("routes: %v", err)
	}
	if name != outboundRoute {
		t.Fatalf("route config name %q", name)
	}
	st.routes = &rc
	u, ok := st.update()
	if !ok {
		t.Fatal("update incomplete")
	}
	if d := cmp.Diff(wantClusters, u.Clusters); d != "" {
		t.Errorf("clusters differ from xdstest.ToProxy (-want +got):\n%s", d)
	}
	if d := cmp.Diff(wantRoutes, u.Routes, cmpRoutes); d != "" {
		t.Errorf("routes differ from xdstest.ToProxy (-want +got):\n%s", d)
	}
	// The fixture must reach the features it is meant to cover, or the
	// comparison above proves little.
	covered := map[string]bool{}
	for _, c := range u.Clusters {
		covered["lb"+string(rune('0'+c.LB))] = true
		covered["http2"] = covered["http2"] || c.Protocol == cluster.HTTP2
		covered["idle"] = covered["idle"] || c.IdleTimeout > 0
		covered["maxconns"] = covered["maxconns"] || c.MaxConnsPerEndpoint > 0
		covered["budget"] = covered["budget"] || c.RetryBudget.Percent > 0
		covered["maxidle"] = covered["maxidle"] || c.MaxIdlePerEndpoint > 0
		covered["breaker"] = covered["breaker"] || c.Breaker.MaxRequests > 0
		covered["outlier"] = covered["outlier"] || c.Outlier != nil && c.Outlier.EnforcingSuccessRate > 0
		covered["split"] = covered["split"] || c.Outlier != nil && c.Outlier.SplitLocalOrigin
		covered["nolocality"] = covered["nolocality"] || c.NoLocality
		for _, e := range c.Endpoints {
			covered["labels"] = covered["labels"] || len(e.Labels) > 0
			covered["zone"] = covered["zone"] || e.Zone != ""
			covered["region"] = covered["region"] || e.Region != ""
		}
	}
	for _, vh := range u.Routes.VirtualHosts {
		covered["hostlimit"] = covered["hostlimit"] || vh.RateLimit != nil
		for _, r := range vh.Routes {
			covered["ratelimit"] = covered["ratelimit"] || r.RateLimit != nil
			if f := r.Fault; f != nil {
				covered["delay"] = covered["delay"] || f.Delay > 0
				covered["abortgrpc"] = covered["abortgrpc"] || f.AbortGRPC > 0
				covered["aborthttp"] = covered["aborthttp"] || f.AbortHTTP > 0
			}
			covered["path"+string(rune('0'+r.Match.Path.Kind))] = true
			covered["method"] = covered["method"] || r.Match.Method != ""
			covered["weights"] = covered["weights"] || len(r.Backends) > 1
			covered["timeout"] = covered["timeout"] || r.Timeout > 0
			covered["retry"] = covered["retry"] || r.Retry != nil && r.Retry.PerTryTimeout > 0 && len(r.Retry.StatusCodes) > 0
			for _, h := range r.Match.Headers {
				covered["header"+string(rune('0'+h.Kind))] = true
			}
			for _, q := range r.Match.Query {
				covered["query"+string(rune('0'+q.Kind))] = true
			}
		}
	}
	for _, k := range []string{"lb0", "lb1", "lb2", "http2", "idle", "maxconns", "maxidle", "breaker", "outlier", "split", "labels", "zone", "region", "nolocality", "path0", "path1", "path2",
		"method", "weights", "timeout", "header0", "header1", "query0", "query1", "retry", "budget",
		"hostlimit", "ratelimit", "delay", "abortgrpc", "aborthttp"} {
		if !covered[k] {
			t.Errorf("fixture does not cover %s", k)
		}
	}
}

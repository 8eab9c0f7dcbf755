package xdstest

import (
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

type hdrs map[string]string

func (h hdrs) Get(n string) ([]byte, bool) { v, ok := h[n]; return []byte(v), ok }

// The whole chain: resources -> translate -> xDS -> ToProxy -> a compiled
// route table and cluster set that route as the HTTPRoute says.
func TestTranslatedConfigRoutesInTheProxy(t *testing.T) {
	rs, err := mesh.Decode([]byte(`[
 {"apiVersion":"weft.dev/v1alpha1","kind":"Service","metadata":{"name":"catalog"},
  "spec":{"ports":[{"port":80}],"subsets":[{"name":"v1","labels":{"version":"v1"}},{"name":"v2","labels":{"version":"v2"}}]}},
 {"apiVersion":"weft.dev/v1alpha1","kind":"HTTPRoute","metadata":{"name":"r"},
  "spec":{"parentRefs":[{"name":"catalog"}],"rules":[
   {"matches":[{"headers":[{"name":"x-canary","value":"always"}]}],"backendRefs":[{"name":"catalog","subset":"v2"}]},
   {"matches":[{"path":{"value":"/api"}}],"backendRefs":[{"name":"catalog","subset":"v1","weight":3},{"name":"catalog","subset":"v2","weight":1}]}]}},
 {"apiVersion":"weft.dev/v1alpha1","kind":"TrafficPolicy","metadata":{"name":"p"},
  "spec":{"targetRef":{"name":"catalog"},"loadBalancer":{"type":"ROUND_ROBIN"}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := translate.Translate(translate.Input{Resources: rs, Instances: []registry.Instance{
		{Service: "catalog", ID: "a", Address: "127.0.0.1", Port: 1001, Labels: map[string]string{"version": "v1"}, Ready: true},
		{Service: "catalog", ID: "b", Address: "127.0.0.1", Port: 1002, Labels: map[string]string{"version": "v2"}, Ready: true},
		{Service: "catalog", ID: "c", Address: "127.0.0.1", Port: 1003, Labels: map[string]string{"version": "v2"}, Ready: false},
	}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	u := Update{Version: "1", Clusters: snap.Clusters, Routes: snap.Routes[0], Endpoints: map[string]*endpointv3.ClusterLoadAssignment{}}
	for _, e := range snap.Endpoints {
		u.Endpoints[e.ClusterName] = e
	}
	rc, ccs, err := ToProxy(u)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := route.Compile(rc)
	if err != nil {
		t.Fatal(err)
	}
	set, err := cluster.NewSet(ccs, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Retire(set, nil)
	lookup := func(host, path string, h hdrs) *route.Route {
		return tbl.Lookup([]byte(host), []byte("GET"), []byte(path), nil, h)
	}
	if r := lookup("catalog", "/x", hdrs{"x-canary": "always"}); r == nil || r.PickBackend(0) != "catalog.default/v2" {
		t.Fatalf("canary route %+v", r)
	}
	r := lookup("catalog.default.svc.cluster.local", "/api/items", hdrs{})
	counts := map[string]int{}
	for i := uint64(0); i < 4; i++ {
		counts[r.PickBackend(i)]++
	}
	if counts["catalog.default/v1"] != 3 || counts["catalog.default/v2"] != 1 {
		t.Fatalf("weights %v", counts)
	}
	if r := lookup("catalog", "/other", hdrs{}); r == nil || r.PickBackend(0) != "catalog.default" {
		t.Fatalf("default route %+v", r)
	}
	v2 := set.Get("catalog.default/v2")
	if v2 == nil || len(v2.Endpoints) != 1 || v2.Endpoints[0].Address != "127.0.0.1:1002" {
		t.Fatalf("v2 cluster should hold only the ready instance: %+v", v2)
	}
	if set.Get("catalog.default").Config.LB != cluster.LBRoundRobin {
		t.Fatal("traffic policy's balancer lost")
	}
}

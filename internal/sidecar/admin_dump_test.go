package sidecar

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	xdsclient "github.com/weft-mesh/weft/internal/xds/client"
)

// /config shows what a control-plane sidecar runs: the dynamic routes
// with their matches, weights and timeouts, clusters with their
// endpoints' labels, zone and weight, and durations as Go durations
// (issue 8 finding 6).
func TestConfigDumpShowsDynamicConfig(t *testing.T) {
	cfg := &Config{
		Node: "n1", Service: "web", Admin: "127.0.0.1:0",
		Outbound:     Outbound{Proxy: "127.0.0.1:0"},
		ControlPlane: &ControlPlane{XDS: []string{"127.0.0.1:1"}}, // never answers: the test applies the update itself
		Limits:       Limits{DrainTimeout: 1500 * time.Millisecond},
	}
	sc, a := runSidecar(t, cfg)
	u := xdsclient.Update{Version: "7.1",
		Routes: route.Config{VirtualHosts: []route.VirtualHost{{Name: "catalog.default", Domains: []string{"catalog"}, Routes: []route.Route{{
			Name: "split", Match: route.Match{Path: route.PathMatch{Kind: route.PathPrefix, Value: "/api"}, Method: "GET"},
			Backends: []route.Backend{{Cluster: "catalog.default/v1", Weight: 90}, {Cluster: "ghost.default", Weight: 10}},
			Timeout:  2 * time.Second, MissingClusterStatus: 500,
		}}}}},
		Clusters: []cluster.Config{{Name: "catalog.default/v1", ConnectTimeout: 2 * time.Second,
			Endpoints: []cluster.EndpointConfig{{Address: "127.0.0.1:9", Weight: 3, Zone: "a", Labels: map[string]string{"version": "v1"}}}}},
	}
	if err := sc.applyXDS(u); err != nil {
		t.Fatal(err)
	}
	_, body := get(t, "http://"+a.Admin+"/config")
	var d struct {
		ControlPlaneVersion string            `json:"controlPlaneVersion"`
		Routes              []VirtualHostDump `json:"routes"`
		Clusters            []ClusterDump     `json:"clusters"`
		Config              map[string]any    `json:"config"`
	}
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Routes) != 1 || len(d.Routes[0].Routes) != 1 {
		t.Fatalf("dynamic routes missing from /config:\n%s", body)
	}
	r := d.Routes[0].Routes[0]
	if r.Timeout != "2s" || r.Match.Path != "prefix /api" || r.Match.Method != "GET" || len(r.Backends) != 2 ||
		r.Backends[0].Weight != 90 || r.MissingClusterStatus != 500 {
		t.Errorf("route %+v", r)
	}
	if len(d.Clusters) != 1 || d.Clusters[0].ConnectTimeout != "2s" || d.Clusters[0].Protocol != "http" {
		t.Fatalf("clusters %+v", d.Clusters)
	}
	ep := d.Clusters[0].Endpoints[0]
	if ep.Weight != 3 || ep.Zone != "a" || ep.Labels["version"] != "v1" {
		t.Errorf("endpoint %+v", ep)
	}
	if d.ControlPlaneVersion != "7.1" {
		t.Errorf("controlPlaneVersion %q", d.ControlPlaneVersion)
	}
	limits, _ := d.Config["limits"].(map[string]any)
	if limits["drainTimeout"] != "1.5s" {
		t.Errorf("config durations are not Go durations: limits %v", limits)
	}
	if strings.Contains(body, "1500000000") {
		t.Errorf("a duration printed as nanoseconds:\n%s", body)
	}
}

package translate

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/registry"
)

var update = flag.Bool("update", false, "rewrite golden files")

const resources = `{"kind": "List", "items": [
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"},
  "spec": {"ports": [{"port": 80}], "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "payments"},
  "spec": {"ports": [{"port": 9000, "protocol": "grpc"}], "endpoints": [{"address": "10.0.0.9", "port": 9000, "zone": "b"}],
   "mtls": {"mode": "PERMISSIVE"}}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "catalog-split"},
  "spec": {"parentRefs": [{"name": "catalog"}], "hostnames": ["catalog.example.com"],
   "rules": [
    {"name": "canary", "matches": [{"headers": [{"name": "x-canary", "value": "always"}], "method": "GET"}],
     "filters": [{"type": "Fault", "fault": {"delay": {"fixedDelay": "200ms", "percent": 5}, "abort": {"grpcStatus": 14, "percent": 10}}},
      {"type": "RateLimit", "rateLimit": {"requestsPerSecond": 30, "burst": 5}},
      {"type": "RequestHeaderModifier", "requestHeaderModifier": {"set": [{"name": "x-canary-served", "value": "v2"}], "add": [{"name": "x-trace", "value": "canary"}], "remove": ["x-debug"]}},
      {"type": "ResponseHeaderModifier", "responseHeaderModifier": {"remove": ["server"]}}],
     "backendRefs": [{"name": "catalog", "subset": "v2"}]},
    {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}, {"path": {"type": "RegularExpression", "value": "/items/[0-9]+"}, "queryParams": [{"name": "debug", "value": "1"}]}],
     "backendRefs": [{"name": "catalog", "subset": "v1", "weight": 90}, {"name": "catalog", "subset": "v2", "weight": 10}],
     "timeouts": {"request": "5s"}},
    {"name": "legacy", "matches": [{"path": {"value": "/v1"}}],
     "filters": [{"type": "URLRewrite", "urlRewrite": {"hostname": "catalog.internal", "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}},
      {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "payments"}, "percent": 10}}],
     "backendRefs": [{"name": "catalog"}]},
    {"name": "moved", "matches": [{"path": {"value": "/old"}}],
     "filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301, "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}]}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": "catalog"},
  "spec": {"targetRef": {"name": "catalog"}, "loadBalancer": {"type": "RING_HASH", "hashOn": {"header": "x-user"}, "localityAware": false},
   "connectionPool": {"maxConnections": 100, "connectTimeout": "1s", "idleTimeout": "30s"}, "rateLimit": {"requestsPerSecond": 1000}}}
]}`

func input(t *testing.T) Input {
	t.Helper()
	rs, err := mesh.Decode([]byte(resources))
	if err != nil {
		t.Fatal(err)
	}
	return Input{Resources: rs, Instances: []registry.Instance{
		{Service: "catalog", ID: "b", Address: "10.0.0.2", Port: 15006, Labels: map[string]string{"version": "v2"}, Zone: "a", Ready: true},
		{Service: "catalog", ID: "a", Address: "10.0.0.1", Port: 15006, Labels: map[string]string{"version": "v1"}, Zone: "a", Ready: true, MTLS: true},
		{Service: "catalog", ID: "c", Address: "10.0.0.3", Port: 15006, Labels: map[string]string{"version": "v1"}, Zone: "b", Ready: false},
		// Kubernetes' topology labels place an instance with no zone field.
		{Service: "catalog", ID: "d", Address: "10.0.0.4", Port: 15006, Ready: true, Labels: map[string]string{"version": "v2",
			"topology.kubernetes.io/zone": "c", "topology.kubernetes.io/region": "eu"}},
	}}
}

// golden renders every resource of the snapshot as one JSON document.
func golden(t *testing.T, s *Snapshot) []byte {
	t.Helper()
	var parts []string
	add := func(m proto.Message) {
		b, err := protojson.MarshalOptions{Multiline: true, Indent: "  "}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, string(b))
	}
	for _, c := range s.Clusters {
		add(c)
	}
	for _, e := range s.Endpoints {
		add(e)
	}
	for _, l := range s.Listeners {
		add(l)
	}
	for _, r := range s.Routes {
		add(r)
	}
	return []byte("[\n" + strings.Join(parts, ",\n") + "\n]\n")
}

func TestTranslateGolden(t *testing.T) {
	snap, err := Translate(input(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	// Everything must pass Envoy's own field validation (protoc-gen-validate).
	type validator interface{ ValidateAll() error }
	for _, c := range snap.Clusters {
		if err := any(c).(validator).ValidateAll(); err != nil {
			t.Errorf("cluster %s: %v", c.Name, err)
		}
	}
	for _, e := range snap.Endpoints {
		if err := any(e).(validator).ValidateAll(); err != nil {
			t.Errorf("endpoints %s: %v", e.ClusterName, err)
		}
	}
	for _, l := range snap.Listeners {
		if err := any(l).(validator).ValidateAll(); err != nil {
			t.Errorf("listener %s: %v", l.Name, err)
		}
	}
	for _, r := range snap.Routes {
		if err := any(r).(validator).ValidateAll(); err != nil {
			t.Errorf("routes %s: %v", r.Name, err)
		}
	}
	path := filepath.Join("testdata", "snapshot.golden.json")
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
	// protojson varies its whitespace on purpose, so compare structure.
	if normalize(t, got) != normalize(t, want) {
		t.Fatalf("snapshot differs from %s (go test -update rewrites it):\n%s", path, got)
	}
}

func normalize(t *testing.T, b []byte) string {
	t.Helper()
	v := &structpb.ListValue{}
	if err := protojson.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
	out, _ := protojson.MarshalOptions{}.Marshal(v)
	return strings.Join(strings.Fields(string(out)), "")
}

func TestTranslateOnDemand(t *testing.T) {
	snap, err := Translate(input(t), func(ns, name string) bool { return name == "payments" })
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Clusters) != 1 || snap.Clusters[0].Name != "payments.default" {
		t.Fatalf("clusters %v", snap.Clusters)
	}
	if vhs := snap.Routes[0].VirtualHosts; len(vhs) != 1 || vhs[0].Name != "payments.default" {
		t.Fatalf("virtual hosts %v", vhs)
	}
}

func TestTranslateDeterministic(t *testing.T) {
	in := input(t)
	a, _ := Translate(in, nil)
	in.Instances[0], in.Instances[1] = in.Instances[1], in.Instances[0]
	b, _ := Translate(in, nil)
	if string(golden(t, a)) == "" || !proto.Equal(a.Endpoints[0], b.Endpoints[0]) || !proto.Equal(a.Routes[0], b.Routes[0]) {
		t.Fatal("input order changed the output")
	}
}

// The listener must point at the route configuration by name over ADS:
// the sidecar's RDS subscription and the server's push order both rely on
// the routes never being inlined.
func TestOutboundListenerUsesRDS(t *testing.T) {
	snap, err := Translate(input(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Listeners) == 0 || snap.Listeners[0].Name != OutboundListener {
		t.Fatalf("listeners %v", snap.Listeners)
	}
	hcm := &hcmv3.HttpConnectionManager{}
	if err := snap.Listeners[0].FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(hcm); err != nil {
		t.Fatal(err)
	}
	rds := hcm.GetRds()
	if rds == nil || rds.RouteConfigName != OutboundRoute || rds.GetConfigSource().GetAds() == nil {
		t.Fatalf("hcm route specifier %v", hcm.RouteSpecifier)
	}
}

// A Service outside the mesh known by a DNS name becomes one endpoint with
// that host, resolved by the sidecar when it connects.
func TestDNSService(t *testing.T) {
	rs, err := mesh.Decode([]byte(`{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "billing"},
	  "spec": {"ports": [{"port": 443}], "dns": "billing.example.com"}}`))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := Translate(Input{Resources: rs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Endpoints) != 1 || len(snap.Endpoints[0].Endpoints) != 1 || len(snap.Endpoints[0].Endpoints[0].LbEndpoints) != 1 {
		t.Fatalf("want one endpoint, got %v", snap.Endpoints)
	}
	sa := snap.Endpoints[0].Endpoints[0].LbEndpoints[0].GetEndpoint().GetAddress().GetSocketAddress()
	if sa.GetAddress() != "billing.example.com" || sa.GetPortValue() != 443 {
		t.Fatalf("endpoint %v, want billing.example.com:443", sa)
	}
}

package client

import (
	"errors"
	"fmt"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/xds/translate"
	"github.com/weft-mesh/weft/internal/xds/xdstest"
)

// meshResources exercises every xDS field translate writes: subsets,
// static and registered endpoints with labels and zones, not-ready
// instances, HTTP/2, every path, header, query and method match, weighted
// and single backends, timeouts, both hash policies, pool limits and
// timeouts, retries and the retry budget (the set of translate_test.go,
// widened).
const meshResources = `{"kind": "List", "items": [
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"},
  "spec": {"ports": [{"port": 80}], "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "payments"},
  "spec": {"ports": [{"port": 9000, "protocol": "grpc"}], "endpoints": [{"address": "10.0.0.9", "port": 9000, "zone": "b", "labels": {"tier": "gold", "topology.kubernetes.io/region": "eu"}}, {"address": "fd00::9", "port": 9001}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "search"},
  "spec": {"ports": [{"port": 7000, "protocol": "http2"}], "endpoints": [{"address": "search.internal", "port": 7000}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "users", "namespace": "accounts"},
  "spec": {"ports": [{"port": 8080}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "catalog-split"},
  "spec": {"parentRefs": [{"name": "catalog"}], "hostnames": ["catalog.example.com"],
   "rules": [
    {"name": "canary", "matches": [{"headers": [{"name": "X-Canary", "value": "always"}, {"type": "RegularExpression", "name": "x-user", "value": "u-[0-9]+"}], "method": "GET"}],
     "filters": [{"type": "Fault", "fault": {"delay": {"fixedDelay": "200ms", "percent": 5}, "abort": {"grpcStatus": 14, "percent": 10}}},
      {"type": "RateLimit", "rateLimit": {"requestsPerSecond": 30, "burst": 5}}],
     "backendRefs": [{"name": "catalog", "subset": "v2"}]},
    {"matches": [{"path": {"type": "PathPrefix", "value": "/api"}}, {"path": {"type": "RegularExpression", "value": "/items/[0-9]+"}, "queryParams": [{"name": "debug", "value": "1"}, {"type": "RegularExpression", "name": "page", "value": "[0-9]+"}]}],
     "backendRefs": [{"name": "catalog", "subset": "v1", "weight": 90}, {"name": "catalog", "subset": "v2", "weight": 10}],
     "timeouts": {"request": "5s", "backendRequest": "1s"}, "retry": {"codes": [503], "attempts": 3, "backoff": "50ms"},
     "filters": [{"type": "Fault", "fault": {"abort": {"httpStatus": 418}}}]},
    {"matches": [{"path": {"type": "Exact", "value": "/healthz"}}, {"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "catalog"}], "timeouts": {"request": "250ms"}}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "payments-filters"},
  "spec": {"parentRefs": [{"name": "payments"}], "rules": [
    {"matches": [{"path": {"value": "/v1"}}], "backendRefs": [{"name": "payments"}],
     "filters": [{"type": "URLRewrite", "urlRewrite": {"hostname": "pay.internal", "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}},
      {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "search"}, "percent": 25}}]},
    {"matches": [{"path": {"value": "/v2"}}], "backendRefs": [{"name": "payments"}],
     "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/api/v2"}}}]},
    {"matches": [{"path": {"value": "/old"}}],
     "filters": [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "port": 8443, "statusCode": 301, "path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/new"}}}]},
    {"matches": [{"path": {"type": "Exact", "value": "/moved"}}],
     "filters": [{"type": "RequestRedirect", "requestRedirect": {"hostname": "elsewhere.example", "path": {"type": "ReplaceFullPath", "replaceFullPath": "/here"}}}]},
    {"matches": [{"path": {"value": "/full"}}], "backendRefs": [{"name": "payments"}],
     "filters": [{"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/all"}}},
      {"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "catalog", "subset": "v1"}, "fraction": {"numerator": 1, "denominator": 3}}}]}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": "catalog"},
  "spec": {"targetRef": {"name": "catalog"}, "loadBalancer": {"type": "RING_HASH", "hashOn": {"header": "x-user"}},
   "connectionPool": {"maxConnections": 100, "connectTimeout": "1s", "idleTimeout": "30s"}, "rateLimit": {"requestsPerSecond": 7},
   "retries": {"retryOn": ["5xx", "unavailable"], "perTryTimeout": "2s", "maxBackoff": "500ms", "budgetPercent": 25, "minRetriesPerSecond": 5}}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": "payments"},
  "spec": {"targetRef": {"name": "payments"}, "loadBalancer": {"type": "ROUND_ROBIN", "localityAware": false}, "connectionPool": {"idleTimeout": "90s", "maxIdle": 8},
   "circuitBreaker": {"maxRequests": 50, "maxPendingRequests": 10},
   "outlierDetection": {"consecutive5xx": 3, "consecutiveGatewayErrors": 2, "interval": "5s", "maxEjectionPercent": 50, "successRate": {"minimumHosts": 3}}}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "TrafficPolicy", "metadata": {"name": "users", "namespace": "accounts"},
  "spec": {"targetRef": {"name": "users"}, "loadBalancer": {"type": "RING_HASH", "hashOn": {"cookie": "session"}}, "connectionPool": {"connectTimeout": "1500ms"},
   "outlierDetection": {"consecutiveConnectFailures": 4, "baseEjectionTime": "10s"}}}
]}`

func meshInput(t testing.TB) translate.Input {
	t.Helper()
	rs, err := mesh.Decode([]byte(meshResources))
	if err != nil {
		t.Fatal(err)
	}
	return translate.Input{Resources: rs, Instances: []registry.Instance{
		{Service: "catalog", ID: "b", Address: "10.0.0.2", Port: 15006, Labels: map[string]string{"version": "v2"}, Zone: "a", Ready: true},
		{Service: "catalog", ID: "a", Address: "10.0.0.1", Port: 15006, Labels: map[string]string{"version": "v1", "track": "stable"}, Zone: "a", Ready: true},
		{Service: "catalog", ID: "c", Address: "10.0.0.3", Port: 15006, Labels: map[string]string{"version": "v1"}, Zone: "b", Ready: false},
		{Service: "users", ID: "u", Address: "10.0.1.1", Port: 8080, Ready: true, MTLS: true},
		{Service: "users", ID: "p", Address: "10.0.1.2", Port: 8080, Ready: true},
	}, TrustBundle: testBundlePEM(t)}
}

func meshSnapshot(t testing.TB) *translate.Snapshot {
	t.Helper()
	snap, err := translate.Translate(meshInput(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// realUpdate is what xdstest.ToProxy makes of a snapshot.
func realUpdate(t testing.TB, snap *translate.Snapshot) (route.Config, []cluster.Config) {
	t.Helper()
	u := xdstest.Update{Version: "1", Clusters: snap.Clusters, Routes: snap.Routes[0], Endpoints: map[string]*endpointv3.ClusterLoadAssignment{}}
	for _, e := range snap.Endpoints {
		u.Endpoints[e.ClusterName] = e
	}
	rc, ccs, err := xdstest.ToProxy(u)
	if err != nil {
		t.Fatal(err)
	}
	return rc, ccs
}

// Reference paths: what xdstest.Client and xdstest.ToProxy do with one
// resource's bytes (decode, Envoy's validation, mapping). Each returns the
// mapped result or the first error.

type validator interface{ ValidateAll() error }

// errToProxy marks a rejection by xdstest.ToProxy itself, after decoding
// and validation passed: a feature Weft cannot honour, which the client
// decoders must reject too.
var errToProxy = errors.New("xdstest.ToProxy rejects")

func realCluster(b []byte) (cc cluster.Config, err error) {
	c := &clusterv3.Cluster{}
	if err := proto.Unmarshal(b, c); err != nil {
		return cc, err
	}
	if err := c.ValidateAll(); err != nil {
		return cc, err
	}
	// ToProxy decodes the HTTP protocol options whole; the client reads only the
	// fields it maps. Malformed bytes in the others are a decode failure in
	// a field the client skips, not a feature ToProxy refuses, so report them as
	// decode errors.
	if a := c.TypedExtensionProtocolOptions[httpOptionsKey]; a.MessageIs(&httpv3.HttpProtocolOptions{}) {
		if err := proto.Unmarshal(a.Value, &httpv3.HttpProtocolOptions{}); err != nil {
			return cc, err
		}
	}
	_, ccs, err := xdstest.ToProxy(xdstest.Update{Clusters: []*clusterv3.Cluster{c},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{c.Name: {ClusterName: c.Name}}})
	if err != nil {
		return cc, fmt.Errorf("%w: %w", errToProxy, err)
	}
	return ccs[0], nil
}

func realEndpoints(b []byte) (string, []cluster.EndpointConfig, error) {
	e := &endpointv3.ClusterLoadAssignment{}
	if err := proto.Unmarshal(b, e); err != nil {
		return "", nil, err
	}
	if err := e.ValidateAll(); err != nil {
		return "", nil, err
	}
	c := &clusterv3.Cluster{Name: e.ClusterName, LbPolicy: clusterv3.Cluster_LEAST_REQUEST}
	_, ccs, err := xdstest.ToProxy(xdstest.Update{Clusters: []*clusterv3.Cluster{c},
		Endpoints: map[string]*endpointv3.ClusterLoadAssignment{c.Name: e}})
	if err != nil {
		return "", nil, fmt.Errorf("%w: %w", errToProxy, err)
	}
	return e.ClusterName, ccs[0].Endpoints, nil
}

func realRoutes(b []byte) (string, route.Config, error) {
	r := &routev3.RouteConfiguration{}
	if err := proto.Unmarshal(b, r); err != nil {
		return "", route.Config{}, err
	}
	if err := any(r).(validator).ValidateAll(); err != nil {
		return "", route.Config{}, err
	}
	rc, _, err := xdstest.ToProxy(xdstest.Update{Routes: r})
	if err != nil {
		return "", route.Config{}, fmt.Errorf("%w: %w", errToProxy, err)
	}
	return r.Name, rc, nil
}

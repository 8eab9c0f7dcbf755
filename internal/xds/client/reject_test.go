package client

import (
	"errors"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// decodeCase is one resource and what the client decoder must make of it.
// realRejects says whether xdstest.Client (protobuf decode, Envoy's
// validation, xdstest.ToProxy) rejects it too; the test checks that claim,
// so every case states the reference's behaviour truthfully, and a case
// where the client is stricter is marked by realRejects false.
type decodeCase struct {
	name        string
	msg         proto.Message
	want        error // nil: accepted, with the reference's output
	realRejects bool
}

func TestClusterDecodeRejects(t *testing.T) {
	runDecodeCases(t, clusterCases(), func(b []byte) (any, error) { return decodeCluster(b) },
		func(b []byte) (any, error) { return realCluster(b) })
}

func clusterCases() []decodeCase {
	base := func(mut func(c *clusterv3.Cluster)) proto.Message {
		c := &clusterv3.Cluster{Name: "a.default", LbPolicy: clusterv3.Cluster_LEAST_REQUEST,
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}, ConnectTimeout: durationpb.New(1e9)}
		mut(c)
		return c
	}
	wrongOpts, _ := anypb.New(durationpb.New(1))
	return []decodeCase{
		{"valid", base(func(*clusterv3.Cluster) {}), nil, false},
		{"empty name", base(func(c *clusterv3.Cluster) { c.Name = "" }), ErrInvalid, true},
		{"zero connect timeout", base(func(c *clusterv3.Cluster) { c.ConnectTimeout = durationpb.New(0) }), ErrInvalid, true},
		{"invalid connect timeout", base(func(c *clusterv3.Cluster) { c.ConnectTimeout = &durationpb.Duration{Seconds: 1, Nanos: -1} }), ErrInvalid, true},
		{"maglev", base(func(c *clusterv3.Cluster) { c.LbPolicy = clusterv3.Cluster_MAGLEV }), ErrUnsupported, true},
		{"undefined lb policy", base(func(c *clusterv3.Cluster) { c.LbPolicy = 42 }), ErrInvalid, true},
		{"undefined discovery type", base(func(c *clusterv3.Cluster) { c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: 9} }), ErrInvalid, true},
		{"undefined breaker priority", base(func(c *clusterv3.Cluster) {
			c.CircuitBreakers = &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{Priority: 7}}}
		}), ErrInvalid, true},
		{"protocol options of another type", base(func(c *clusterv3.Cluster) {
			c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpOptionsKey: wrongOpts}
		}), ErrInvalid, true},
		{"zone-aware routing for half the requests", base(func(c *clusterv3.Cluster) { c.CommonLbConfig = zoneAware(50) }), ErrUnsupported, true},
		{"zone-aware routing off", base(func(c *clusterv3.Cluster) { c.CommonLbConfig = zoneAware(0) }), nil, false},
		{"locality-weighted balancing", base(func(c *clusterv3.Cluster) {
			c.CommonLbConfig = &clusterv3.Cluster_CommonLbConfig{LocalityConfigSpecifier: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig_{
				LocalityWeightedLbConfig: &clusterv3.Cluster_CommonLbConfig_LocalityWeightedLbConfig{}}}
		}), ErrUnsupported, true},
		{"name over cap", base(func(c *clusterv3.Cluster) { c.Name = strings.Repeat("a", maxName+1) }), ErrLimit, false},
	}
}

func TestEndpointsDecodeRejects(t *testing.T) {
	runDecodeCases(t, endpointCases(), func(b []byte) (any, error) { _, eps, err := decodeEndpoints(b); return eps, err },
		func(b []byte) (any, error) { _, eps, err := realEndpoints(b); return eps, err })
}

func endpointCases() []decodeCase {
	sock := func(host string, port uint32) *corev3.Address {
		return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Address: host, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port}}}}
	}
	base := func(mut func(lb *endpointv3.LbEndpoint, loc *endpointv3.LocalityLbEndpoints)) proto.Message {
		lb := &endpointv3.LbEndpoint{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: sock("10.0.0.1", 80)}}}
		loc := &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Zone: "z"}, LbEndpoints: []*endpointv3.LbEndpoint{lb}}
		mut(lb, loc)
		return &endpointv3.ClusterLoadAssignment{ClusterName: "a.default", Endpoints: []*endpointv3.LocalityLbEndpoints{loc}}
	}
	type (
		lbE  = endpointv3.LbEndpoint
		locE = endpointv3.LocalityLbEndpoints
	)
	setAddr := func(lb *lbE, a *corev3.Address) { lb.GetEndpoint().Address = a }
	manyLabels := map[string]any{}
	for i := range maxLabels + 1 {
		manyLabels[strings.Repeat("k", i+1)] = "v"
	}
	st, _ := structpb.NewStruct(manyLabels)
	return []decodeCase{
		{"valid", base(func(*lbE, *locE) {}), nil, false},
		{"no cluster name", &endpointv3.ClusterLoadAssignment{}, ErrInvalid, true},
		{"port over 65535", base(func(lb *lbE, _ *locE) { setAddr(lb, sock("10.0.0.1", 70000)) }), ErrInvalid, true},
		{"empty host", base(func(lb *lbE, _ *locE) { setAddr(lb, sock("", 80)) }), ErrInvalid, true},
		{"no port", base(func(lb *lbE, _ *locE) {
			setAddr(lb, &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{Address: "h"}}})
		}), ErrInvalid, true},
		{"undefined protocol", base(func(lb *lbE, _ *locE) { lb.GetEndpoint().Address.GetSocketAddress().Protocol = 5 }), ErrInvalid, true},
		{"empty address", base(func(lb *lbE, _ *locE) { setAddr(lb, &corev3.Address{}) }), ErrInvalid, true},
		{"zero endpoint weight", base(func(lb *lbE, _ *locE) { lb.LoadBalancingWeight = wrapperspb.UInt32(0) }), ErrInvalid, true},
		{"zero locality weight", base(func(_ *lbE, loc *locE) { loc.LoadBalancingWeight = wrapperspb.UInt32(0) }), ErrInvalid, true},
		{"priority over 128", base(func(_ *lbE, loc *locE) { loc.Priority = 129 }), ErrInvalid, true},
		{"empty metadata namespace", base(func(lb *lbE, _ *locE) {
			lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{"": {}}}
		}), ErrInvalid, true},
		{"ready endpoint by name", base(func(lb *lbE, _ *locE) { lb.HostIdentifier = &endpointv3.LbEndpoint_EndpointName{EndpointName: "e"} }), ErrUnsupported, true},
		{"ready pipe", base(func(lb *lbE, _ *locE) {
			setAddr(lb, &corev3.Address{Address: &corev3.Address_Pipe{Pipe: &corev3.Pipe{Path: "/s"}}})
		}), ErrUnsupported, true},
		{"unready endpoint by name", base(func(lb *lbE, _ *locE) {
			lb.HostIdentifier = &endpointv3.LbEndpoint_EndpointName{EndpointName: "e"}
			lb.HealthStatus = corev3.HealthStatus_DRAINING
		}), nil, false},
		{"named port", base(func(lb *lbE, _ *locE) {
			lb.GetEndpoint().Address.GetSocketAddress().PortSpecifier = &corev3.SocketAddress_NamedPort{NamedPort: "http"}
		}), ErrUnsupported, false},
		{"labels over cap", base(func(lb *lbE, _ *locE) {
			lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{labelsKey: st}}
		}), ErrLimit, false},
	}
}

// runDecodeCases checks each case against the client decoder and the
// reference path.
func runDecodeCases(t *testing.T, cases []decodeCase, lean, real func([]byte) (any, error)) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := marshal(t, tc.msg)
			got, err := lean(b)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.want != nil && !errors.Is(err, tc.want):
				t.Fatalf("got error %v, want %v", err, tc.want)
			}
			want, realErr := real(b)
			if (realErr != nil) != tc.realRejects {
				t.Fatalf("reference rejects: %v (err %v), case says %v", realErr != nil, realErr, tc.realRejects)
			}
			if tc.want == nil {
				if d := cmp.Diff(want, got, cmpRoutes); d != "" {
					t.Fatalf("differs from xdstest.ToProxy (-want +got):\n%s", d)
				}
			}
		})
	}
}

func zoneAware(pct float64) *clusterv3.Cluster_CommonLbConfig {
	return &clusterv3.Cluster_CommonLbConfig{LocalityConfigSpecifier: &clusterv3.Cluster_CommonLbConfig_ZoneAwareLbConfig_{
		ZoneAwareLbConfig: &clusterv3.Cluster_CommonLbConfig_ZoneAwareLbConfig{RoutingEnabled: &typev3.Percent{Value: pct}}}}
}

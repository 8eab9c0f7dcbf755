package client

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/google/go-cmp/cmp"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/xds/server"
)

// Weft's request type must encode byte for byte as Envoy's does, so the
// server reads every field, the NACK's status included.
func TestRequestEncodesLikeProtobuf(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  request
		want *discoveryv3.DiscoveryRequest
	}{
		{"first cds", request{node: "n1", typeURL: clusterType},
			&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n1"}, TypeUrl: server.ClusterType}},
		{"eds ack", request{node: "n1", version: "7", names: []string{"a.default", "b.default"}, typeURL: endpointType, nonce: "12"},
			&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n1"}, VersionInfo: "7", ResourceNames: []string{"a.default", "b.default"}, TypeUrl: server.EndpointType, ResponseNonce: "12"}},
		{"declared services", request{node: "n1", services: "catalog,payments.shop", typeURL: clusterType},
			&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n1", Metadata: &structpb.Struct{Fields: map[string]*structpb.Value{
				server.ServicesKey: structpb.NewStringValue("catalog,payments.shop")}}}, TypeUrl: server.ClusterType}},
		{"locality", request{node: "n1", region: "eu", zone: "eu-a", typeURL: clusterType},
			&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n1", Locality: &corev3.Locality{Region: "eu", Zone: "eu-a"}}, TypeUrl: server.ClusterType}},
		{"rds nack", request{node: "n1", version: "6", names: []string{outboundRoute}, typeURL: routeType, nonce: "13", errorMsg: "routes: bad"},
			&discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "n1"}, VersionInfo: "6", ResourceNames: []string{"outbound"}, TypeUrl: server.RouteType, ResponseNonce: "13",
				ErrorDetail: &statuspb.Status{Code: 3, Message: "routes: bad"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.req.encode()
			if err != nil {
				t.Fatal(err)
			}
			if want := marshal(t, tc.want); string(got) != string(want) {
				dec := &discoveryv3.DiscoveryRequest{}
				_ = proto.Unmarshal(got, dec)
				t.Fatalf("encoding differs from protobuf's; decodes as %v (-want +got):\n%s", dec, cmp.Diff(tc.want, dec, protocmp.Transform()))
			}
		})
	}
}

func TestResponseDecodes(t *testing.T) {
	snap := meshSnapshot(t)
	res := &discoveryv3.DiscoveryResponse{VersionInfo: "3", TypeUrl: server.ClusterType, Nonce: "9", Canary: true}
	for _, c := range snap.Clusters {
		a, err := anypb.New(c)
		if err != nil {
			t.Fatal(err)
		}
		res.Resources = append(res.Resources, a)
	}
	got, err := decodeResponse(marshal(t, res))
	if err != nil {
		t.Fatal(err)
	}
	if got.version != "3" || got.typeURL != clusterType || got.nonce != "9" || got.err != nil || len(got.resources) != len(snap.Clusters) {
		t.Fatalf("decoded %+v", got)
	}
	for i, a := range got.resources {
		if a.TypeUrl != res.Resources[i].TypeUrl || string(a.Value) != string(res.Resources[i].Value) {
			t.Fatalf("resources[%d] = %q", i, a.TypeUrl)
		}
	}
	// Over the cap, the response is still read whole, to be NACKed by
	// type and nonce rather than failing the stream.
	many := &discoveryv3.DiscoveryResponse{TypeUrl: server.EndpointType, Nonce: "10"}
	for range maxResources + 1 {
		many.Resources = append(many.Resources, &anypb.Any{})
	}
	got, err = decodeResponse(marshal(t, many))
	if err != nil || !errors.Is(got.err, ErrLimit) || got.nonce != "10" || got.typeURL != endpointType {
		t.Fatalf("over the cap: %+v, %v", got.err, err)
	}
	if _, err := decodeResponse([]byte{0x0a, 0x05, 'a'}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated response: %v", err)
	}
}

func TestErrorDetailIsBoundedUTF8(t *testing.T) {
	long := strings.Repeat("é", maxErrorDetail) + "\xff"
	d := detail(long)
	if !utf8.ValidString(d) || len(d) > maxErrorDetail || len(d) < maxErrorDetail-4 {
		t.Fatalf("detail: %d bytes, valid %v", len(d), utf8.ValidString(d))
	}
	if d := detail("bad \xff byte"); d != "bad \uFFFD byte" {
		t.Fatalf("detail %q", d)
	}
}

// Protobuf merges a message field sent twice, and concatenated encodings
// decode as the merge of both messages. The decoders must merge exactly as
// protobuf does, field by field; concatenating translate's resources in
// pairs exercises that on every field they carry.
func TestConcatenatedResourcesMergeLikeProtobuf(t *testing.T) {
	snap := meshSnapshot(t)
	var clusters, endpoints, routes [][]byte
	for _, c := range snap.Clusters {
		clusters = append(clusters, marshal(t, c))
	}
	for _, e := range snap.Endpoints {
		endpoints = append(endpoints, marshal(t, e))
	}
	routes = append(routes, marshal(t, snap.Routes[0]))
	for _, vh := range snap.Routes[0].VirtualHosts {
		// A RouteConfiguration holding one virtual host, so pairs differ.
		b := protowire.AppendTag(nil, 2, protowire.BytesType)
		routes = append(routes, protowire.AppendBytes(b, marshal(t, vh)))
	}
	pairs := func(t *testing.T, set [][]byte, lean, real func([]byte) (any, error)) {
		for i, a := range set {
			for j, b := range set {
				in := append(append([]byte(nil), a...), b...)
				got, err := lean(in)
				want, realErr := real(in)
				if (err != nil) != (realErr != nil) {
					t.Fatalf("pair %d,%d: client error %v, reference error %v", i, j, err, realErr)
				}
				if d := cmp.Diff(want, got, cmpRoutes); d != "" {
					t.Fatalf("pair %d,%d differs (-reference +client):\n%s", i, j, d)
				}
			}
		}
	}
	t.Run("clusters", func(t *testing.T) {
		pairs(t, clusters, func(b []byte) (any, error) { return decodeCluster(b) }, func(b []byte) (any, error) { return realCluster(b) })
	})
	t.Run("endpoints", func(t *testing.T) {
		pairs(t, endpoints, func(b []byte) (any, error) { _, e, err := decodeEndpoints(b); return e, err },
			func(b []byte) (any, error) { _, e, err := realEndpoints(b); return e, err })
	})
	t.Run("routes", func(t *testing.T) {
		pairs(t, routes, func(b []byte) (any, error) { _, r, err := decodeRoutes(b); return r, err },
			func(b []byte) (any, error) { _, r, err := realRoutes(b); return r, err })
	})
}

// A known field sent with another wire type is an unknown field to
// protobuf, skipped rather than rejected; so it is here.
func TestWrongWireTypeIsSkipped(t *testing.T) {
	snap := meshSnapshot(t)
	b := marshal(t, snap.Clusters[0])
	b = protowire.AppendTag(b, 1, protowire.VarintType) // name as a varint
	b = protowire.AppendVarint(b, 5)
	b = protowire.AppendTag(b, 6, protowire.BytesType) // lb_policy as bytes
	b = protowire.AppendString(b, "x")
	b = protowire.AppendTag(b, 99, protowire.StartGroupType) // an unknown group
	b = protowire.AppendTag(b, 1, protowire.Fixed32Type)
	b = protowire.AppendFixed32(b, 1)
	b = protowire.AppendTag(b, 99, protowire.EndGroupType)
	got, err := decodeCluster(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := realCluster(b)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Fatalf("(-reference +client):\n%s", d)
	}
}

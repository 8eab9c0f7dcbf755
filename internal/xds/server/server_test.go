package server

import (
	"context"
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

func snapshot(clusters ...string) *translate.Snapshot {
	s := &translate.Snapshot{Routes: []*routev3.RouteConfiguration{{Name: translate.OutboundRoute}}}
	for _, c := range clusters {
		s.Clusters = append(s.Clusters, &clusterv3.Cluster{Name: c})
		s.Endpoints = append(s.Endpoints, &endpointv3.ClusterLoadAssignment{ClusterName: c})
	}
	return s
}

func start(t *testing.T) (*Server, discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	t.Helper()
	srv := New(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(grpc.MaxRecvMsgSize(4 << 20))
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, srv)
	go g.Serve(ln)
	t.Cleanup(g.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	stream, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return srv, stream
}

func names(t *testing.T, r *discoveryv3.DiscoveryResponse) []string {
	t.Helper()
	var out []string
	for _, a := range r.Resources {
		switch r.TypeUrl {
		case ClusterType:
			var c clusterv3.Cluster
			a.UnmarshalTo(&c)
			out = append(out, c.Name)
		case EndpointType:
			var e endpointv3.ClusterLoadAssignment
			a.UnmarshalTo(&e)
			out = append(out, e.ClusterName)
		}
	}
	return out
}

var node = &corev3.Node{Id: "frontend-1"}

func TestWildcardNamedAckNack(t *testing.T) {
	srv, s := start(t)
	res, err := Marshal("1", snapshot("a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(res)

	// CDS wildcard: everything.
	s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	r, err := s.Recv()
	if err != nil || r.VersionInfo != "1" || len(names(t, r)) != 3 {
		t.Fatalf("cds: %v %v", r, err)
	}
	s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType, VersionInfo: "1", ResponseNonce: r.Nonce})
	// EDS named: exactly what is named, even though the snapshot has more
	// (the go-control-plane trap this server exists to avoid).
	s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: EndpointType, ResourceNames: []string{"b"}})
	r, err = s.Recv()
	if err != nil || len(names(t, r)) != 1 || names(t, r)[0] != "b" {
		t.Fatalf("eds: %v %v", names(t, r), err)
	}
	s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: EndpointType, VersionInfo: "1", ResponseNonce: r.Nonce, ResourceNames: []string{"b"}})

	// A new version is pushed to both subscriptions.
	res2, _ := Marshal("2", snapshot("a", "b"))
	srv.Set(res2)
	got := map[string]*discoveryv3.DiscoveryResponse{}
	for i := 0; i < 2; i++ {
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		got[r.TypeUrl] = r
	}
	if got[ClusterType].VersionInfo != "2" || len(names(t, got[ClusterType])) != 2 || got[EndpointType] == nil {
		t.Fatalf("push: %v", got)
	}
	// The proxy rejects CDS v2: the server records it and does not resend.
	s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType, VersionInfo: "1", ResponseNonce: got[ClusterType].Nonce,
		ErrorDetail: &status.Status{Message: "clusters[0]: bad"}})
	s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: EndpointType, VersionInfo: "2", ResponseNonce: got[EndpointType].Nonce, ResourceNames: []string{"b"}})
	deadline := time.Now().Add(5 * time.Second)
	for {
		ps := srv.Proxies()
		if len(ps) == 1 && ps[0].NACKs["CDS"] == "version 2: clusters[0]: bad" && ps[0].Acked["EDS"] == "2" {
			if ps[0].Synced() || ps[0].Acked["CDS"] != "1" || ps[0].Node != "frontend-1" {
				t.Fatalf("status %+v", ps[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed the NACK: %+v", ps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestFirstRequestNeedsNode(t *testing.T) {
	_, s := start(t)
	s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType})
	if _, err := s.Recv(); err == nil {
		t.Fatal("stream without a node id was served")
	}
}

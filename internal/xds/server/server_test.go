package server

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"go.uber.org/goleak"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

// Flush goroutines must end with their streams.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func snapshot(clusters ...string) *translate.Snapshot {
	s := &translate.Snapshot{
		Routes:    []*routev3.RouteConfiguration{{Name: translate.OutboundRoute}},
		Listeners: []*listenerv3.Listener{{Name: translate.OutboundListener}},
	}
	for _, c := range clusters {
		s.Clusters = append(s.Clusters, &clusterv3.Cluster{Name: c})
		s.Endpoints = append(s.Endpoints, &endpointv3.ClusterLoadAssignment{ClusterName: c})
	}
	return s
}

// start serves a new Server, with its codec (ServerOptions) or gRPC's.
func start(t *testing.T, withCodec bool) (*Server, discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	t.Helper()
	srv := New(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(4 << 20)}
	if withCodec {
		opts = append(opts, srv.ServerOptions()...)
	}
	g := grpc.NewServer(opts...)
	srv.Register(g)
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
		case ListenerType:
			var l listenerv3.Listener
			a.UnmarshalTo(&l)
			out = append(out, l.Name)
		case RouteType:
			var r routev3.RouteConfiguration
			a.UnmarshalTo(&r)
			out = append(out, r.Name)
		}
	}
	return out
}

var node = &corev3.Node{Id: "frontend-1"}

func TestWildcardNamedAckNack(t *testing.T) {
	for name, withCodec := range map[string]bool{"weft codec": true, "grpc codec": false} {
		t.Run(name, func(t *testing.T) { testWildcardNamedAckNack(t, withCodec) })
	}
}

func testWildcardNamedAckNack(t *testing.T, withCodec bool) {
	srv, s := start(t, withCodec)
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
			if ps[0].Synced() || ps[0].Acked["CDS"] != "1" || ps[0].Node != "frontend-1" || ps[0].LastPush.IsZero() || ps[0].LastAnswer.Before(ps[0].LastPush) {
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
	_, s := start(t, true)
	s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType})
	if _, err := s.Recv(); err == nil {
		t.Fatal("stream without a node id was served")
	}
}

// recvTypes reads n responses and returns their types in arrival order,
// ACKing each as a proxy would.
func recvTypes(t *testing.T, s discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient, n int, subs map[string][]string) ([]string, map[string]*discoveryv3.DiscoveryResponse) {
	t.Helper()
	var order []string
	got := map[string]*discoveryv3.DiscoveryResponse{}
	for range n {
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, shortTypes[typeIndex(r.TypeUrl)])
		got[r.TypeUrl] = r
		s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce, ResourceNames: subs[r.TypeUrl]})
	}
	return order, got
}

// An Envoy-like subscriber: CDS and LDS wildcard, EDS and RDS by name. An
// endpoint-only change is pushed as EDS alone; a full change as every type,
// in make-before-break order.
func TestListenersAndPerTypeVersions(t *testing.T) {
	srv, s := start(t, true)
	v1, err := Marshal("1", snapshot("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(v1)
	subs := map[string][]string{EndpointType: {"a", "b"}, RouteType: {translate.OutboundRoute}}
	for _, typ := range []string{ClusterType, EndpointType, ListenerType, RouteType} {
		s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: subs[typ]})
	}
	_, got := recvTypes(t, s, 4, subs)
	if l := got[ListenerType]; l == nil || l.VersionInfo != "1" || len(names(t, l)) != 1 || names(t, l)[0] != translate.OutboundListener {
		t.Fatalf("lds: %v", l)
	}

	// Only a's endpoints change: EDS alone moves to version 2.
	next := snapshot("a", "b")
	next.Endpoints[0].Endpoints = []*endpointv3.LocalityLbEndpoints{{Locality: &corev3.Locality{Zone: "z"}}}
	v2, err := MarshalFrom(v1, "2", next)
	if err != nil {
		t.Fatal(err)
	}
	if v2.TypeVersion(ClusterType) != "1" || v2.TypeVersion(EndpointType) != "2" || v2.TypeVersion(ListenerType) != "1" {
		t.Fatalf("type versions %s %s %s", v2.TypeVersion(ClusterType), v2.TypeVersion(EndpointType), v2.TypeVersion(ListenerType))
	}
	srv.Set(v2)
	order, got := recvTypes(t, s, 1, subs)
	if order[0] != "EDS" || got[EndpointType].VersionInfo != "2" {
		t.Fatalf("eds-only push: %v", order)
	}

	// Everything changes: four pushes, CDS first, RDS last.
	v3, err := Marshal("3", snapshot("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(v3)
	order, _ = recvTypes(t, s, 4, subs)
	if fmt.Sprint(order) != "[CDS EDS LDS RDS]" {
		t.Fatalf("push order %v", order)
	}
	waitSynced(t, srv, "3", 4)
}

func waitSynced(t *testing.T, srv *Server, version string, types int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ps := srv.Proxies()
		if len(ps) == 1 && ps[0].Synced() && ps[0].Version == version && len(ps[0].Acked) == types {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("never synced at %s: %+v", version, ps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A proxy that has not answered a push is not sent another: workers never
// block on it, and when it answers it gets the newest config once, however
// many changes came meanwhile.
func TestPushWaitsForTheProxysAnswer(t *testing.T) {
	srv, s := start(t, true)
	v1, _ := Marshal("1", snapshot("a"))
	srv.Set(v1)
	s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType})
	r, err := s.Recv()
	if err != nil {
		t.Fatal(err)
	}
	s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce})
	waitSynced(t, srv, "1", 1)

	v2, _ := Marshal("2", snapshot("a", "b"))
	srv.Set(v2)
	r2, err := s.Recv()
	if err != nil || r2.VersionInfo != "2" {
		t.Fatalf("v2: %v %v", r2, err)
	}
	// Unanswered: v3 and v4 wait.
	recvd := make(chan *discoveryv3.DiscoveryResponse, 1)
	go func() {
		r, err := s.Recv()
		if err == nil {
			recvd <- r
		}
		close(recvd)
	}()
	for _, v := range []string{"3", "4"} {
		res, _ := Marshal(v, snapshot("a", "b", "c"+v))
		srv.Set(res)
	}
	select {
	case r := <-recvd:
		t.Fatalf("pushed %s before the proxy answered %s", r.VersionInfo, r2.VersionInfo)
	case <-time.After(200 * time.Millisecond):
	}
	s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, VersionInfo: "2", ResponseNonce: r2.Nonce})
	select {
	case r := <-recvd:
		if r == nil || r.VersionInfo != "4" {
			t.Fatalf("after the answer: %v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the newest config never came")
	}
}

package server

import (
	"context"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

// startHooked serves a new Server whose hooks are installed before it
// serves.
func startHooked(t *testing.T, h func(*Server) Hooks) (*Server, discoveryv3.AggregatedDiscoveryService_StreamAggregatedResourcesClient) {
	t.Helper()
	srv := New(nil)
	srv.SetHooks(h(srv))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer(srv.ServerOptions()...)
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

// grpcSnapshot is a proxyless client's config: the named API listeners,
// their route configs, and cluster "a" as gRPC reads it.
func grpcSnapshot(lb clusterv3.Cluster_LbPolicy, listeners ...string) *translate.Snapshot {
	s := &translate.Snapshot{Clusters: []*clusterv3.Cluster{{Name: "a", LbPolicy: lb}}}
	for _, l := range listeners {
		s.Listeners = append(s.Listeners, &listenerv3.Listener{Name: l, ApiListener: &listenerv3.ApiListener{}})
		s.Routes = append(s.Routes, &routev3.RouteConfiguration{Name: l})
	}
	return s
}

// A gRPC library names its listeners; the server reports them before it
// answers, so the node's own config (published by the hook) is what the
// client receives, even for the types it asked for first. A later change
// of names resends every type from the new config, even when that config
// carries the same versions as the one before.
func TestProxylessListenersScopeTheConfig(t *testing.T) {
	var mu sync.Mutex
	var reported [][]string
	srv, s := startHooked(t, func(srv *Server) Hooks {
		return Hooks{OnListeners: func(node string, names []string) {
			mu.Lock()
			reported = append(reported, names)
			mu.Unlock()
			lb := clusterv3.Cluster_ROUND_ROBIN
			if len(names) > 1 {
				lb = clusterv3.Cluster_RING_HASH
			}
			res, err := Marshal("1", grpcSnapshot(lb, names...))
			if err != nil {
				t.Error(err)
				return
			}
			srv.SetNodes(map[string]*Resources{node: res})
		}}
	})
	def, err := Marshal("1", snapshot("a")) // the sidecars' config: cluster a as LEAST_REQUEST
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(def)
	grpcNode := &corev3.Node{Id: "grpc-client-1", UserAgentName: "gRPC Go"}
	recv := func() *discoveryv3.DiscoveryResponse {
		t.Helper()
		r, err := s.Recv()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	lbOf := func(r *discoveryv3.DiscoveryResponse) clusterv3.Cluster_LbPolicy {
		t.Helper()
		var c clusterv3.Cluster
		if len(r.Resources) != 1 || r.Resources[0].UnmarshalTo(&c) != nil {
			t.Fatalf("want cluster a, got %v", r)
		}
		return c.LbPolicy
	}

	// CDS first, as a restarted stream may: held until the listeners come.
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: grpcNode, TypeUrl: ClusterType, ResourceNames: []string{"a"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ListenerType, ResourceNames: []string{"catalog"}}); err != nil {
		t.Fatal(err)
	}
	lr := recv()
	if lr.TypeUrl != ListenerType || !slices.Equal(names(t, lr), []string{"catalog"}) {
		t.Fatalf("first response: want LDS [catalog] (CDS held), got %s %v", lr.TypeUrl, names(t, lr))
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ListenerType, ResourceNames: []string{"catalog"}, VersionInfo: lr.VersionInfo, ResponseNonce: lr.Nonce}); err != nil {
		t.Fatal(err)
	}
	cr := recv()
	if cr.TypeUrl != ClusterType || lbOf(cr) != clusterv3.Cluster_ROUND_ROBIN {
		t.Fatalf("want the node's own CDS (ROUND_ROBIN), got %v", cr)
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ClusterType, ResourceNames: []string{"a"}, VersionInfo: cr.VersionInfo, ResponseNonce: cr.Nonce}); err != nil {
		t.Fatal(err)
	}

	// A second target: same versions ("1"), new content.
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ListenerType, ResourceNames: []string{"catalog", "payments"}, VersionInfo: lr.VersionInfo, ResponseNonce: lr.Nonce}); err != nil {
		t.Fatal(err)
	}
	lr = recv()
	if lr.TypeUrl != ListenerType || !slices.Equal(names(t, lr), []string{"catalog", "payments"}) {
		t.Fatalf("want LDS [catalog payments], got %s %v", lr.TypeUrl, names(t, lr))
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ListenerType, ResourceNames: []string{"catalog", "payments"}, VersionInfo: lr.VersionInfo, ResponseNonce: lr.Nonce}); err != nil {
		t.Fatal(err)
	}
	if cr = recv(); cr.TypeUrl != ClusterType || lbOf(cr) != clusterv3.Cluster_RING_HASH {
		t.Fatalf("want CDS resent from the new config (RING_HASH), got %v", cr)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 2 || !slices.Equal(reported[0], []string{"catalog"}) || !slices.Equal(reported[1], []string{"catalog", "payments"}) {
		t.Fatalf("reported %v", reported)
	}
}

// A sidecar (no gRPC user agent) is answered at once, and naming the
// outbound listener is not a proxyless declaration.
func TestSidecarNotProxyless(t *testing.T) {
	var called atomic.Bool
	srv, s := startHooked(t, func(*Server) Hooks {
		return Hooks{OnListeners: func(string, []string) { called.Store(true) }}
	})
	def, err := Marshal("1", snapshot("a"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(def)
	if err := s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: ClusterType}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Recv(); err != nil || r.TypeUrl != ClusterType {
		t.Fatalf("cds: %v %v", r, err)
	}
	if err := s.Send(&discoveryv3.DiscoveryRequest{TypeUrl: ListenerType, ResourceNames: []string{translate.OutboundListener}}); err != nil {
		t.Fatal(err)
	}
	if r, err := s.Recv(); err != nil || r.TypeUrl != ListenerType || !slices.Equal(names(t, r), []string{translate.OutboundListener}) {
		t.Fatalf("lds: %v %v", r, err)
	}
	if called.Load() {
		t.Fatal("the outbound listener was reported as a proxyless declaration")
	}
}

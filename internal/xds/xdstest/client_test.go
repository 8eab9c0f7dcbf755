package xdstest

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/xds/server"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// snap serves a listener too, as the control plane does: the client does
// not subscribe to LDS, and the server must not push it what it did not ask.
func snap(version string, clusters ...string) *server.Resources {
	s := &translate.Snapshot{
		Routes:    []*routev3.RouteConfiguration{{Name: translate.OutboundRoute}},
		Listeners: []*listenerv3.Listener{{Name: translate.OutboundListener}},
	}
	for _, c := range clusters {
		s.Clusters = append(s.Clusters, &clusterv3.Cluster{Name: c})
		s.Endpoints = append(s.Endpoints, &endpointv3.ClusterLoadAssignment{ClusterName: c})
	}
	r, err := server.Marshal(version, s)
	if err != nil {
		panic(err)
	}
	return r
}

type recorder struct {
	mu      sync.Mutex
	applied []Update
	reject  string // version to refuse
}

func (r *recorder) apply(u Update) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u.Version == r.reject {
		return errors.New("route to unknown cluster")
	}
	r.applied = append(r.applied, u)
	return nil
}

func (r *recorder) last() (Update, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return Update{}, 0
	}
	return r.applied[len(r.applied)-1], len(r.applied)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestClientAppliesAcksAndNacks(t *testing.T) {
	srv := server.New(nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, srv)
	go g.Serve(ln)
	defer g.Stop()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	rec := &recorder{reject: "2"}
	srv.Set(snap("1", "a.default", "b.default"))
	c, err := New(Config{Node: "n1", Conns: []grpc.ClientConnInterface{conn}, Apply: rec.apply, MinBackoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	waitFor(t, "v1 applied", func() bool {
		u, _ := rec.last()
		return u.Version == "1" && len(u.Clusters) == 2 && len(u.Endpoints) == 2
	})
	waitFor(t, "v1 acked", func() bool { p := srv.Proxies(); return len(p) == 1 && p[0].Synced() && p[0].Version == "1" })

	// v2 is rejected by the sidecar: NACKed, v1 keeps serving.
	srv.Set(snap("2", "a.default"))
	waitFor(t, "v2 nacked", func() bool { p := srv.Proxies(); return len(p) == 1 && p[0].NACKs["CDS"] != "" })
	if u, _ := rec.last(); u.Version != "1" {
		t.Fatalf("rejected version leaked: %s", u.Version)
	}
	// v3 is good again.
	srv.Set(snap("3", "a.default", "c.default"))
	waitFor(t, "v3 applied", func() bool {
		u, _ := rec.last()
		if u.Version != "3" || len(u.Clusters) != 2 {
			return false
		}
		_, ok := u.Endpoints["c.default"]
		return ok
	})
	waitFor(t, "v3 synced", func() bool { p := srv.Proxies(); return len(p) == 1 && p[0].Synced() && p[0].Version == "3" })
}

func TestClientReconnectsToAnotherReplica(t *testing.T) {
	// Replica 1 is down (nothing listens); replica 2 serves.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	srv := server.New(nil)
	srv.Set(snap("7", "a.default"))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := grpc.NewServer()
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, srv)
	go g.Serve(ln)
	defer g.Stop()
	var conns []grpc.ClientConnInterface
	for _, a := range []string{deadAddr, ln.Addr().String()} {
		cc, err := grpc.NewClient(a, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		conns = append(conns, cc)
	}
	rec := &recorder{}
	c, _ := New(Config{Node: "n2", Conns: conns, Apply: rec.apply, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitFor(t, "config from the live replica", func() bool { u, _ := rec.last(); return u.Version == "7" })
}

// Listeners are the control plane's to serve and this client's to ignore:
// one that arrives anyway is accepted (so ACKed), never NACKed.
func TestClientIgnoresListeners(t *testing.T) {
	l, err := anypb.New(&listenerv3.Listener{Name: translate.OutboundListener})
	if err != nil {
		t.Fatal(err)
	}
	st := &state{endpoints: map[string]*endpointv3.ClusterLoadAssignment{}}
	if err := st.absorb(&discoveryv3.DiscoveryResponse{TypeUrl: server.ListenerType, Resources: []*anypb.Any{l}}); err != nil {
		t.Fatalf("listener push rejected: %v", err)
	}
}

package client

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/xds/server"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// replica is one control-plane ADS server on loopback.
type replica struct {
	srv  *server.Server
	g    *grpc.Server
	addr string
}

func startReplica(t *testing.T, opts ...grpc.ServerOption) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveReplica(t, ln, opts...)
}

// serveReplica serves ADS with grpc-go's own server on ln, so the tests
// hold the client's transport to real gRPC.
func serveReplica(t *testing.T, ln net.Listener, opts ...grpc.ServerOption) *replica {
	t.Helper()
	r := &replica{srv: server.New(nil), g: grpc.NewServer(opts...), addr: ln.Addr().String()}
	r.srv.Register(r.g)
	go r.g.Serve(ln)
	t.Cleanup(r.g.Stop)
	return r
}

// proxy returns the one sidecar's status once it is connected.
func (r *replica) proxy() (server.ProxyStatus, bool) {
	p := r.srv.Proxies()
	if len(p) != 1 {
		return server.ProxyStatus{}, false
	}
	return p[0], true
}

// run starts a client and stops it when the test ends.
func run(t *testing.T, cfg Config) {
	t.Helper()
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// recorder is the sidecar's Apply: it keeps what it accepted and refuses
// one version.
type recorder struct {
	mu       sync.Mutex
	applied  []Update
	attempts map[string]int
	reject   string
}

func (r *recorder) apply(u Update) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.attempts == nil {
		r.attempts = map[string]int{}
	}
	r.attempts[u.Version]++
	if u.Version == r.reject {
		return errors.New("route to unknown cluster")
	}
	r.applied = append(r.applied, u)
	return nil
}

func (r *recorder) last() Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.applied) == 0 {
		return Update{}
	}
	return r.applied[len(r.applied)-1]
}

func (r *recorder) all() []Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Update(nil), r.applied...)
}

func (r *recorder) tried(version string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts[version]
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func resources(t *testing.T, version string, snap *translate.Snapshot) *server.Resources {
	t.Helper()
	r, err := server.Marshal(version, snap)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// withInstance is the fixture's snapshot with one more catalog instance.
func withInstance(t *testing.T, addr string) *translate.Snapshot {
	t.Helper()
	in := meshInput(t)
	in.Instances = append(in.Instances, registry.Instance{Service: "catalog", ID: addr, Address: addr, Port: 15006, Labels: map[string]string{"version": "v1"}, Ready: true})
	snap, err := translate.Translate(in, nil)
	if err != nil {
		t.Fatal(err)
	}
	return snap
}

// sameAsToProxy fails unless u is what xdstest.ToProxy makes of snap.
func sameAsToProxy(t *testing.T, u Update, snap *translate.Snapshot) {
	t.Helper()
	rc, ccs := realUpdate(t, snap)
	if d := cmp.Diff(ccs, u.Clusters); d != "" {
		t.Errorf("clusters differ from xdstest.ToProxy (-want +got):\n%s", d)
	}
	if d := cmp.Diff(rc, u.Routes, cmpRoutes); d != "" {
		t.Errorf("routes differ from xdstest.ToProxy (-want +got):\n%s", d)
	}
}

func TestStreamAppliesAcksAndNacks(t *testing.T) {
	r := startReplica(t)
	rec := &recorder{reject: "2"}
	v1 := meshSnapshot(t)
	r.srv.Set(resources(t, "1", v1))
	run(t, Config{Node: "n1", Servers: []string{r.addr}, Apply: rec.apply, MinBackoff: 10 * time.Millisecond})

	waitFor(t, "v1 applied", func() bool { return rec.last().Version == "1" })
	sameAsToProxy(t, rec.last(), v1)
	waitFor(t, "v1 acked", func() bool { p, ok := r.proxy(); return ok && p.Synced() && p.Version == "1" })

	// v2 is refused by the sidecar: NACKed, and v1 keeps serving.
	r.srv.Set(resources(t, "2", withInstance(t, "10.0.0.20")))
	waitFor(t, "v2 nacked", func() bool { p, ok := r.proxy(); return ok && len(p.NACKs) > 0 && rec.tried("2") > 0 })
	if v := rec.last().Version; v != "1" {
		t.Fatalf("a refused version was applied: %s", v)
	}
	if p, _ := r.proxy(); p.Acked["CDS"] == "2" && p.Acked["EDS"] == "2" && p.Acked["RDS"] == "2" {
		t.Fatalf("refused v2 ACKed: %+v", p)
	}

	// v3 fails to decode (Weft has no Maglev): NACKed by the decoder, the
	// sidecar never sees it.
	v3 := meshSnapshot(t)
	v3.Clusters[0].LbPolicy = clusterv3.Cluster_MAGLEV
	r.srv.Set(resources(t, "3", v3))
	waitFor(t, "v3 nacked", func() bool {
		p, ok := r.proxy()
		return ok && strings.Contains(p.NACKs["CDS"], "not supported")
	})
	// Its EDS and RDS decode and may be applied (labelled 3, the newest
	// type version), but its CDS never: the clusters stay v1's.
	sameAsToProxy(t, rec.last(), v1)

	// v4 is good: applied whole, nothing of v2 or v3 in it, and every type
	// ACKed, clearing the NACKs.
	v4 := withInstance(t, "10.0.0.40")
	r.srv.Set(resources(t, "4", v4))
	waitFor(t, "v4 applied", func() bool { return rec.last().Version == "4" })
	sameAsToProxy(t, rec.last(), v4)
	waitFor(t, "v4 synced", func() bool { p, ok := r.proxy(); return ok && p.Synced() && p.Version == "4" })
}

// A replica that dies hands the sidecar to the next one, and one that is
// down from the start is skipped.
func TestStreamFailsOver(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	a, b := startReplica(t), startReplica(t)
	v1, v2 := meshSnapshot(t), withInstance(t, "10.0.0.50")
	a.srv.Set(resources(t, "1", v1))
	b.srv.Set(resources(t, "2", v2))
	rec := &recorder{}
	run(t, Config{Node: "n2", Servers: []string{deadAddr, a.addr, b.addr}, Apply: rec.apply,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})

	waitFor(t, "v1 from the first live replica", func() bool { return rec.last().Version == "1" })
	waitFor(t, "v1 acked", func() bool { p, ok := a.proxy(); return ok && p.Synced() })
	a.g.Stop()
	waitFor(t, "v2 from the next replica", func() bool { return rec.last().Version == "2" })
	sameAsToProxy(t, rec.last(), v2)
	waitFor(t, "v2 acked", func() bool { p, ok := b.proxy(); return ok && p.Synced() && p.Version == "2" })
}

// Clusters arrive before their endpoints; nothing is applied until every
// cluster has them, and an empty mesh is a valid config.
func TestStreamWaitsForEveryType(t *testing.T) {
	r := startReplica(t)
	rec := &recorder{}
	snap := &translate.Snapshot{Routes: []*routev3.RouteConfiguration{{Name: translate.OutboundRoute}}}
	r.srv.Set(resources(t, "1", snap))
	run(t, Config{Node: "n3", Servers: []string{r.addr}, Apply: rec.apply})
	waitFor(t, "empty config applied", func() bool { return rec.last().Version == "1" })
	if u := rec.last(); len(u.Clusters) != 0 || len(u.Routes.VirtualHosts) != 0 {
		t.Fatalf("empty mesh gave %+v", u)
	}
	snap = &translate.Snapshot{Routes: snap.Routes,
		Clusters:  []*clusterv3.Cluster{{Name: "a.default"}, {Name: "b.default"}},
		Endpoints: []*endpointv3.ClusterLoadAssignment{{ClusterName: "a.default"}, {ClusterName: "b.default"}}}
	r.srv.Set(resources(t, "2", snap))
	waitFor(t, "v2 applied", func() bool { return rec.last().Version == "2" })
	if u := rec.last(); len(u.Clusters) != 2 || u.Clusters[0].Name != "a.default" || u.Clusters[1].Name != "b.default" {
		t.Fatalf("v2 clusters %+v", u.Clusters)
	}
	for _, u := range rec.all() {
		if u.Version == "2" && len(u.Clusters) != 2 {
			t.Fatalf("a partial v2 was applied: %+v", u.Clusters)
		}
	}
}

// A replica that answers with a gRPC error instead of config is failed
// over like one that is down.
func TestStreamFailsOverOnStatus(t *testing.T) {
	bad, good := startGRPC(t), startReplica(t)
	good.srv.Set(resources(t, "1", meshSnapshot(t)))
	rec, logs := &recorder{}, &logSink{}
	run(t, Config{Node: "n4", Servers: []string{bad, good.addr}, Apply: rec.apply, Logger: logs.logger(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	waitFor(t, "v1 from the second replica", func() bool { return rec.last().Version == "1" })
	if logs.count("Unimplemented") == 0 {
		t.Fatalf("the first replica was not tried; client log:\n%s", logs)
	}
}

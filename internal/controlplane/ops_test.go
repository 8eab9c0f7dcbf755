package controlplane

import (
	"context"
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"go.uber.org/goleak"
	"google.golang.org/grpc"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/store"
	"github.com/weft-mesh/weft/internal/xds/server"
)

// Every goroutine Run starts ends with it (DESIGN.md habit 3).
func TestMain(m *testing.M) {
	// grpc-go's xDS client built from GRPC_XDS_BOOTSTRAP_CONFIG (the
	// proxyless helper process) is a process-wide global whose file
	// watcher for its TLS channel creds is never closed.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("google.golang.org/grpc/credentials/tls/certprovider/pemfile.(*watcher).run"))
}

// spyStore records how Run uses its store: calls in flight when it is
// closed, and the parts of Run still running then. A List can be held
// (armed) to play an etcd call that is slow to honour cancellation.
type spyStore struct {
	store.Store
	inflight atomic.Int64
	closed   atomic.Bool
	late     atomic.Int64 // calls made after Close

	armed   atomic.Bool
	entered chan struct{} // an armed List has started
	release chan struct{} // closed by Close: a held List returns

	mu         sync.Mutex
	atClose    []string // goroutines of Run alive at Close
	inflightAt int64
}

func newSpy(s store.Store) *spyStore {
	return &spyStore{Store: s, entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (s *spyStore) call() func() {
	if s.closed.Load() {
		s.late.Add(1)
	}
	s.inflight.Add(1)
	return func() { s.inflight.Add(-1) }
}

func (s *spyStore) Get(ctx context.Context, k string) (store.KV, error) {
	defer s.call()()
	return s.Store.Get(ctx, k)
}

func (s *spyStore) List(ctx context.Context, p string) ([]store.KV, int64, error) {
	defer s.call()()
	if s.armed.CompareAndSwap(true, false) {
		s.entered <- struct{}{}
		<-ctx.Done()
		// etcd answers a cancelled call when it next gets to it: hold on
		// until the store closes or a second passes.
		select {
		case <-s.release:
		case <-time.After(time.Second):
		}
		return nil, 0, ctx.Err()
	}
	return s.Store.List(ctx, p)
}

func (s *spyStore) Put(ctx context.Context, k string, v []byte, o ...store.PutOption) (int64, error) {
	defer s.call()()
	return s.Store.Put(ctx, k, v, o...)
}

func (s *spyStore) Delete(ctx context.Context, k string) (int64, error) {
	defer s.call()()
	return s.Store.Delete(ctx, k)
}

func (s *spyStore) Revision(ctx context.Context) (int64, error) {
	defer s.call()()
	return s.Store.Revision(ctx)
}

func (s *spyStore) Compact(ctx context.Context, rev int64) error {
	defer s.call()()
	return s.Store.Compact(ctx, rev)
}

func (s *spyStore) Close() error {
	s.mu.Lock()
	s.inflightAt = s.inflight.Load()
	s.atClose = runParts()
	s.mu.Unlock()
	s.closed.Store(true)
	close(s.release)
	return s.Store.Close()
}

// runParts lists the goroutines running Run's parts (the syncer, the
// compactor, the servers, ADS streams and API handlers), except the
// caller's.
func runParts() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		if i == 0 {
			continue // the goroutine running Close
		}
		if wrapperOnly(g) {
			continue // a part's wrapper past parts.Done, on its way out
		}
		for _, f := range []string{"controlplane.(*syncer)", "controlplane.(*compactor)", "controlplane.Run.func", "controlplane.Run.gowrap",
			"server.(*Server).StreamAggregatedResources", "controlplane.tracked"} {
			if strings.Contains(g, f) {
				out = append(out, strings.SplitN(g, "\n", 2)[0]+" "+f)
				break
			}
		}
	}
	return out
}

// wrapperOnly reports whether a goroutine's stack holds nothing but Run's
// part wrapper (and the WaitGroup.Done it defers): its part has returned,
// and the scheduler has just not run its last instructions yet.
func wrapperOnly(g string) bool {
	lines := strings.Split(g, "\n")[1:]
	for i := 0; i < len(lines); i += 2 { // function lines; file lines follow each
		fn := strings.TrimSpace(lines[i])
		switch {
		case fn == "", strings.HasPrefix(fn, "created by "):
		case strings.Contains(fn, "controlplane.Run.func"), strings.HasPrefix(fn, "sync.(*WaitGroup).Done"),
			strings.HasPrefix(fn, "runtime."), strings.HasPrefix(fn, "sync/atomic."), strings.HasPrefix(fn, "internal/sync."):
		default:
			return false
		}
	}
	return true
}

// Run closes the store only after every part that uses it has returned:
// here the syncer is inside a store call when the stop comes.
func TestStopJoinsPartsBeforeClosingStore(t *testing.T) {
	var spy *spyStore
	addrs, stop := startCfg(t, Config{DataDir: t.TempDir(), wrapStore: func(s store.Store) store.Store { spy = newSpy(s); return spy }})
	cli, err := newOpClient(t, addrs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// An apply wakes the syncer, whose rebuild lists the instances: held.
	spy.armed.Store(true)
	if _, err := cli.Apply(ctx, []byte(services), false); err != nil {
		t.Fatal(err)
	}
	select {
	case <-spy.entered:
	case <-ctx.Done():
		t.Fatal("the syncer never rebuilt")
	}
	stop()
	spy.mu.Lock()
	defer spy.mu.Unlock()
	if spy.inflightAt != 0 || len(spy.atClose) > 0 || spy.late.Load() != 0 {
		t.Fatalf("store closed under Run's parts: %d calls in flight, %d calls after Close, still running: %v",
			spy.inflightAt, spy.late.Load(), spy.atClose)
	}
}

// Old store revisions are compacted, while the config history (kept as
// keys of its own) still lists and rolls back every revision.
func TestCompactionKeepsHistory(t *testing.T) {
	var st store.Store
	addrs, stop := startCfg(t, Config{DataDir: t.TempDir(), CompactInterval: 20 * time.Millisecond, CompactRetain: 5,
		wrapStore: func(s store.Store) store.Store { st = s; return s }})
	defer stop()
	cli, err := newOpClient(t, addrs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cli.Apply(ctx, []byte(services[:len(services)-1]+","+route(90, 10)+"]"), false); err != nil {
		t.Fatal(err)
	}
	const applies = 20
	for i := 1; i < applies; i++ {
		if _, err := cli.Apply(ctx, []byte(route(90-i, 10+i)), false); err != nil {
			t.Fatal(err)
		}
	}
	// etcd answers a watch from an old revision with ErrCompacted once
	// the compactor has passed it.
	waitFor(t, "revision 2 compacted", func() bool {
		wctx, wcancel := context.WithTimeout(ctx, 2*time.Second)
		defer wcancel()
		ev := <-st.Watch(wctx, historyPrefix, 1)
		return errors.Is(ev.Err, store.ErrCompacted)
	})
	h, err := cli.History(ctx)
	if err != nil || len(h) != applies || h[len(h)-1].Revision != 1 {
		t.Fatalf("history after compaction: %d entries (%v), want %d down to revision 1", len(h), err, applies)
	}
	res, err := cli.Rollback(ctx, 1, false)
	if err != nil || res.Revision != applies+1 {
		t.Fatalf("rollback to 1 after compaction: %+v %v", res, err)
	}
	raw, err := cli.Get(ctx, "httproute", "default", "catalog-split")
	if err != nil || !strings.Contains(string(raw), `"weight": 90`) {
		t.Fatalf("route after rollback to 1: %s %v", raw, err)
	}
}

func TestDefaultDataDir(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/state")
	t.Setenv("HOME", "/home/u")
	if got := DefaultDataDir(); got != filepath.Join("/state", "weft") {
		t.Errorf("with XDG_STATE_HOME: %q", got)
	}
	t.Setenv("XDG_STATE_HOME", "relative") // the spec says to ignore it
	if got := DefaultDataDir(); got != filepath.Join("/home/u", ".local", "state", "weft") {
		t.Errorf("with HOME only: %q", got)
	}
	t.Setenv("HOME", "")
	c := Config{}
	c.SetDefaults()
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "dataDir") {
		t.Errorf("no HOME, no dir: %v", err)
	}
}

// A client that names a cluster the mesh does not have is not SYNCED:
// `weft get proxies` says MISSING and names what it did not get.
func TestProxyMissingResources(t *testing.T) {
	addrs, stop := start(t, t.TempDir())
	defer stop()
	cli, err := newOpClient(t, addrs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := cli.Apply(ctx, []byte(services), false); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(addrs.XDS, xdsCreds(t, addrs, "frontend"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	ads, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"catalog.default/v1", "nosuch.default"}
	req := &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Id: "grpc-client"}, TypeUrl: server.ClusterType, ResourceNames: names}
	if err := ads.Send(req); err != nil {
		t.Fatal(err)
	}
	// ACK every push, as a client does.
	acking := make(chan struct{})
	go func() {
		defer close(acking)
		for {
			r, err := ads.Recv()
			if err != nil {
				return
			}
			if ads.Send(&discoveryv3.DiscoveryRequest{TypeUrl: r.TypeUrl, VersionInfo: r.VersionInfo, ResponseNonce: r.Nonce, ResourceNames: names}) != nil {
				return
			}
		}
	}()
	defer func() { scancel(); <-acking }()
	waitFor(t, "MISSING naming nosuch.default", func() bool {
		ps, err := cli.Proxies(ctx)
		return err == nil && len(ps) == 1 && ps[0].State == api.Missing &&
			len(ps[0].Missing["CDS"]) == 1 && ps[0].Missing["CDS"][0] == "nosuch.default"
	})
}

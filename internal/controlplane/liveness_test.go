package controlplane

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/store"
)

// Two replicas on one store: a sidecar whose stream moves from a to b
// within the grace stays in rotation (no flap); once it is gone from b for
// the grace, b takes it out; when it reconnects to a, a restores it.
func TestLivenessAcrossReplicas(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.OpenEmbedded(ctx, store.EmbeddedConfig{DataDir: t.TempDir(), FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st, 10*time.Second)
	if _, err := reg.Upsert(ctx, registry.Instance{Service: "catalog", ID: "c1", Address: "127.0.0.1", Port: 1, Ready: true, Node: "n"}, 0); err != nil {
		t.Fatal(err)
	}
	const grace = 300 * time.Millisecond
	a := newLiveness(reg, grace, "a", slog.New(slog.DiscardHandler))
	b := newLiveness(reg, grace, "b", slog.New(slog.DiscardHandler))
	runCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, l := range []*liveness{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); l.run(runCtx) }()
	}
	defer func() { stop(); wg.Wait() }()

	disconnected := func() bool {
		ins, _, err := reg.Instances(ctx, "catalog")
		if err != nil || len(ins) != 1 {
			t.Fatalf("instances %+v %v", ins, err)
		}
		return ins[0].Disconnected
	}
	holder := func() string { h, _ := reg.StreamHolder(ctx, "n"); return h }
	poll := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}
	judged := func(l *liveness) func() bool {
		return func() bool { l.mu.Lock(); defer l.mu.Unlock(); return l.nodes["n"] == nil }
	}

	a.connected("n")
	poll("a's claim", func() bool { return holder() == "a" })
	a.disconnected("n")
	b.connected("n")
	poll("b's claim", func() bool { return holder() == "b" })
	poll("a to judge the node after its grace", judged(a))
	if disconnected() {
		t.Fatal("a node that moved to replica b within the grace was taken out by replica a")
	}

	b.disconnected("n")
	poll("b to take the node out after its grace", disconnected)
	poll("b's claim released once judged", func() bool { return holder() == "" })

	a.connected("n")
	ins, _, _ := reg.Instances(ctx, "")
	a.observe(ins) // the syncer's next read
	poll("a to restore the node that reconnected to it", func() bool { return !disconnected() })
}

func TestServableHidesDisconnected(t *testing.T) {
	ins := []registry.Instance{{ID: "a", Ready: true}, {ID: "b", Ready: true, Disconnected: true}}
	out := servable(ins)
	if !out[0].Ready || out[1].Ready || !ins[1].Ready {
		t.Fatalf("servable: %+v (input %+v must stay unchanged)", out, ins)
	}
}

// A replica's stream claims are held by its own lease: renewed while it
// runs (the claim outlives several TTLs), gone within a TTL of a crash,
// and released at once on a clean stop.
func TestStreamClaimsFollowTheReplica(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.OpenEmbedded(ctx, store.EmbeddedConfig{DataDir: t.TempDir(), FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	reg := registry.New(st, 10*time.Second)
	const ttl = 2 * time.Second
	holder := func(node string) string { h, _ := reg.StreamHolder(ctx, node); return h }
	poll := func(what string, within time.Duration, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(within); !cond(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
		}
	}

	// crashed: its loop stops without the release a clean stop makes.
	crashed := newLiveness(reg, time.Second, "crashed", slog.New(slog.DiscardHandler))
	crashed.leaseTTL = ttl
	cctx, crash := context.WithCancel(ctx)
	cdone := make(chan struct{})
	go func() { defer close(cdone); crashed.loop(cctx) }()
	crashed.connected("n1")
	poll("the claim", 5*time.Second, func() bool { return holder("n1") == "crashed" })

	alive := newLiveness(reg, time.Second, "alive", slog.New(slog.DiscardHandler))
	alive.leaseTTL = ttl
	actx, stop := context.WithCancel(ctx)
	adone := make(chan struct{})
	go func() { defer close(adone); alive.run(actx) }()
	alive.connected("n2")
	poll("the claim", 5*time.Second, func() bool { return holder("n2") == "alive" })

	crash()
	<-cdone
	crashedAt := time.Now()
	poll("the crashed replica's claim to expire with its lease", 3*ttl, func() bool { return holder("n1") == "" })
	t.Logf("claim of a crashed replica gone %v after the crash (lease TTL %v)", time.Since(crashedAt).Round(10*time.Millisecond), ttl)
	// By now the running replica's lease is past one TTL: renewed, so held.
	if time.Since(crashedAt) < ttl {
		poll("a TTL to pass", 2*ttl, func() bool { return time.Since(crashedAt) > ttl })
	}
	if h := holder("n2"); h != "alive" {
		t.Fatalf("a running replica's claim was lost after its lease TTL: holder %q", h)
	}
	stop()
	<-adone
	if h := holder("n2"); h != "" {
		t.Fatalf("a clean stop left its claim: holder %q", h)
	}
}

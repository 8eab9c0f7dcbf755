package controlplane

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/store"
	"github.com/weft-mesh/weft/internal/xds/server"
)

// TestRotatorSteps: the driver promotes the new root only once the bundle
// holding it is what was published and ACKed (or the propagation wait
// ran out), and finishes when the overlap is over.
func TestRotatorSteps(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenEmbedded(ctx, store.EmbeddedConfig{DataDir: t.TempDir(), FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := ca.Open(ctx, st, ca.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sy := &syncer{}
	r := &rotator{ca: a, sy: sy, xds: server.New(slog.Default()), overlap: time.Hour, propagation: time.Hour, log: slog.Default()}
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	// The bundle {old, new} is not published yet: no promotion.
	if err := r.tick(ctx); err != nil || a.Rotation().Phase != ca.PhasePropagating {
		t.Fatalf("unpublished bundle: phase %q, %v", a.Rotation().Phase, err)
	}
	sy.bundle, sy.bundleVer = []byte(pemCerts(a.Bundle())), "3.1"
	if acked, _ := sy.bundleAcked([]server.ProxyStatus{{Pushed: map[string]string{"SDS": "3.1"}, Acked: map[string]string{"SDS": "2.9"}}}, sy.bundle); acked {
		t.Fatal("a proxy that ACKed an older SDS version counts as holding the bundle")
	}
	if acked, _ := sy.bundleAcked([]server.ProxyStatus{{Pushed: map[string]string{"SDS": "3.10"}, Acked: map[string]string{"SDS": "3.10"}}, {Pushed: map[string]string{"CDS": "1.1"}}}, sy.bundle); !acked {
		t.Fatal("a proxy that ACKed a newer SDS version (or subscribes to none) should count")
	}
	// Published and ACKed, but other replicas' sidecars get a moment.
	r.settle = time.Hour
	if err := r.tick(ctx); err != nil || a.Rotation().Phase != ca.PhasePropagating {
		t.Fatalf("settling: phase %q, %v", a.Rotation().Phase, err)
	}
	r.settle = 0
	// Published, and no proxy is connected: every one has it.
	if err := r.tick(ctx); err != nil || a.Rotation().Phase != ca.PhaseOverlap {
		t.Fatalf("published bundle: phase %q, %v", a.Rotation().Phase, err)
	}
	if err := r.tick(ctx); err != nil || a.Rotation().Phase != ca.PhaseOverlap {
		t.Fatalf("in the overlap: phase %q, %v", a.Rotation().Phase, err)
	}
	r.overlap = 0
	if _, err := a.Finish(ctx); err != nil { // the operator's --finish
		t.Fatal(err)
	}
	// A second rotation with no overlap and a propagation wait that ran
	// out: the driver takes both steps by itself.
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	r.propagation = 0
	if err := r.tick(ctx); err != nil || a.Rotation().Phase != ca.PhaseOverlap {
		t.Fatalf("propagation wait over: phase %q, %v", a.Rotation().Phase, err)
	}
	if err := r.tick(ctx); err != nil || a.Rotation().Phase != ca.PhaseNone || len(a.Bundle()) != 1 {
		t.Fatalf("overlap over: phase %q, bundle %d, %v", a.Rotation().Phase, len(a.Bundle()), err)
	}
}

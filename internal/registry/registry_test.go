package registry

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

func openStore(t *testing.T) store.Store {
	t.Helper()
	s, err := store.OpenEmbedded(context.Background(), store.EmbeddedConfig{DataDir: t.TempDir(), FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestRegisterHeartbeatExpireDeregister(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r := New(openStore(t), 2*time.Second)
	v1 := Instance{Service: "catalog", ID: "a", Address: "127.0.0.1", Port: 15006, Labels: map[string]string{"version": "v1"}, Ready: true}
	v2 := Instance{Service: "catalog", ID: "b", Address: "127.0.0.1", Port: 16006, Labels: map[string]string{"version": "v2"}, Ready: true}
	la, err := r.Upsert(ctx, v1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Upsert(ctx, v2, 0); err != nil {
		t.Fatal(err)
	}
	ins, rev, err := r.Instances(ctx, "catalog")
	if err != nil || len(ins) != 2 || ins[0].Endpoint() != "127.0.0.1:15006" {
		t.Fatalf("instances %+v %v", ins, err)
	}
	events := r.Watch(ctx, rev)
	// a keeps heart-beating; b goes silent and must expire within the TTL.
	deadline := time.Now().Add(8 * time.Second)
	for {
		if la, err = r.Upsert(ctx, v1, la); err != nil {
			t.Fatal(err)
		}
		ins, _, _ := r.Instances(ctx, "catalog")
		if len(ins) == 1 {
			if ins[0].ID != "a" {
				t.Fatalf("the heart-beating instance expired: %+v", ins)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("silent instance did not expire")
		}
		time.Sleep(200 * time.Millisecond)
	}
	select {
	case ev := <-events:
		if ev.Type != store.EventDelete || !strings.HasSuffix(ev.KV.Key, "catalog/b") {
			t.Fatalf("event %+v", ev)
		}
	case <-ctx.Done():
		t.Fatal("no watch event for the expiry")
	}
	// Not-ready stays registered but is marked.
	v1.Ready = false
	if _, err := r.Upsert(ctx, v1, la); err != nil {
		t.Fatal(err)
	}
	if ins, _, _ := r.Instances(ctx, "catalog"); len(ins) != 1 || ins[0].Ready {
		t.Fatalf("after marking not ready: %+v", ins)
	}
	if err := r.Remove(ctx, v1.Service, v1.ID, la); err != nil {
		t.Fatal(err)
	}
	if ins, _, _ := r.Instances(ctx, ""); len(ins) != 0 {
		t.Fatalf("after deregister: %+v", ins)
	}
}

func TestHeartbeatAfterExpiryReregisters(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := openStore(t)
	r := New(st, time.Second)
	in := Instance{Service: "s", ID: "x", Address: "127.0.0.1", Port: 1, Ready: true}
	l, err := r.Upsert(ctx, in, 0)
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a partition longer than the TTL: the lease is gone.
	if err := st.Revoke(ctx, l); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Upsert(ctx, in, l); err != nil {
		t.Fatal(err)
	}
	if ins, _, _ := r.Instances(ctx, "s"); len(ins) != 1 {
		t.Fatalf("not re-registered: %+v", ins)
	}
}

func TestRegisterValidates(t *testing.T) {
	_, err := New(nil, 0).Upsert(context.Background(), Instance{Address: "nowhere", Port: 0, Admin: "no-port"}, 0)
	for _, want := range []string{"service: must not be empty", "id: must not be empty", `address: must be an IP address; got "nowhere"`, "port: must be 1..65535", `admin: must be host:port of at most 256 bytes; got "no-port"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err %v lacks %q", err, want)
		}
	}
}

// Upsert is how a control-plane replica serves a sidecar's heartbeat: the
// same lease is renewed, an unchanged instance causes no write (so no
// watcher wakes), a readiness change is written, and a lost lease is
// replaced.
func TestUpsertRenewsWithoutWritingAndReplacesLostLease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st := openStore(t)
	r := New(st, 2*time.Second)
	in := Instance{Service: "catalog", ID: "a", Address: "127.0.0.1", Port: 15006, Ready: true}
	lease, err := r.Upsert(ctx, in, 0)
	if err != nil || lease == 0 {
		t.Fatalf("first upsert: lease %d, %v", lease, err)
	}
	_, rev, err := r.Instances(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	again, err := r.Upsert(ctx, in, lease)
	if err != nil || again != lease {
		t.Fatalf("heartbeat: lease %d (want %d), %v", again, lease, err)
	}
	in.Ready = false
	if _, err := r.Upsert(ctx, in, lease); err != nil {
		t.Fatal(err)
	}
	// The first event after rev must be the readiness change: the plain
	// heartbeat wrote nothing.
	ev := <-r.Watch(ctx, rev)
	if ev.Err != nil || !strings.Contains(string(ev.KV.Value), `"ready":false`) {
		t.Fatalf("first event after the heartbeat: %+v", ev)
	}
	if err := st.Revoke(ctx, lease); err != nil {
		t.Fatal(err)
	}
	fresh, err := r.Upsert(ctx, in, lease)
	if err != nil || fresh == lease || fresh == 0 {
		t.Fatalf("upsert after the lease was lost: lease %d (old %d), %v", fresh, lease, err)
	}
	if ins, _, _ := r.Instances(ctx, "catalog"); len(ins) != 1 {
		t.Fatalf("instance not re-registered: %+v", ins)
	}
	if err := r.Remove(ctx, "catalog", "a", fresh); err != nil {
		t.Fatal(err)
	}
	if ins, _, _ := r.Instances(ctx, "catalog"); len(ins) != 0 {
		t.Fatalf("instance survived Remove: %+v", ins)
	}
}

package registry

import (
	"context"
	"testing"
	"time"
)

// A stream-lost mark keeps the instance (and its lease) but takes it out;
// the sidecar's next heartbeat clears it; a mark never lands on another
// node's instance.
func TestDisconnectedMarkAndHeartbeat(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := New(openStore(t), 10*time.Second)
	a := Instance{Service: "catalog", ID: "a", Address: "127.0.0.1", Port: 15006, Ready: true, Node: "node-a"}
	b := Instance{Service: "catalog", ID: "b", Address: "127.0.0.1", Port: 16006, Ready: true, Node: "node-b"}
	la, err := r.Upsert(ctx, a, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Upsert(ctx, b, 0); err != nil {
		t.Fatal(err)
	}
	n, err := r.SetDisconnected(ctx, map[string]bool{"node-a": true}, true)
	if err != nil || n != 1 {
		t.Fatalf("mark: %d changed, %v", n, err)
	}
	ins, _, _ := r.Instances(ctx, "catalog")
	if len(ins) != 2 || !ins[0].Disconnected || ins[1].Disconnected {
		t.Fatalf("after marking node-a: %+v", ins)
	}
	kv, err := r.st.Get(ctx, key("catalog", "a"))
	if err != nil || kv.Lease != la {
		t.Fatalf("the mark must keep the lease %d: %+v %v", la, kv, err)
	}
	// A sidecar cannot set the mark itself; its heartbeat clears it.
	a.Disconnected = true
	if _, err := r.Upsert(ctx, a, la); err != nil {
		t.Fatal(err)
	}
	ins, _, _ = r.Instances(ctx, "catalog")
	if ins[0].Disconnected {
		t.Fatalf("a heartbeat must clear the mark: %+v", ins[0])
	}
	if n, err := r.SetDisconnected(ctx, map[string]bool{"node-a": true}, false); err != nil || n != 0 {
		t.Fatalf("clearing an unmarked instance: %d changed, %v", n, err)
	}
}

func TestStreamClaims(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := New(openStore(t), 0)
	if h, err := r.StreamHolder(ctx, "n"); err != nil || h != "" {
		t.Fatalf("unclaimed: %q %v", h, err)
	}
	for _, rep := range []string{"a", "b"} {
		if err := r.ClaimStream(ctx, "n", rep, 0); err != nil {
			t.Fatal(err)
		}
	}
	if h, err := r.StreamHolder(ctx, "n"); err != nil || h != "b" {
		t.Fatalf("the last claim wins: %q %v", h, err)
	}
	if err := r.ReleaseStream(ctx, "n"); err != nil {
		t.Fatal(err)
	}
	if err := r.ReleaseStream(ctx, "n"); err != nil {
		t.Fatalf("releasing twice: %v", err)
	}
}

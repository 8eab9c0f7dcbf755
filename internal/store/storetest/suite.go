// Package storetest is the conformance suite every store.Store deployment
// must pass: the embedded server and each external etcd version.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// Run runs the suite against a fresh store from open for each case.
func Run(t *testing.T, open func(t *testing.T) store.Store) {
	cases := []struct {
		name string
		f    func(t *testing.T, s store.Store)
	}{
		{"crud", testCRUD},
		{"compare and swap", testCAS},
		{"list at revision", testList},
		{"watch from revision", testWatch},
		{"lease expiry deletes keys", testLease},
		{"compaction is reported", testCompaction},
		{"revision", testRevision},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := open(t)
			c.f(t, s)
		})
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return c
}

// unique gives each case its own key space on a shared server.
func unique(t *testing.T) string { return fmt.Sprintf("t%d/", time.Now().UnixNano()) }

func testCRUD(t *testing.T, s store.Store) {
	c, p := ctx(t), unique(t)
	if _, err := s.Get(c, p+"a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	rev, err := s.Put(c, p+"a", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	kv, err := s.Get(c, p+"a")
	if err != nil || string(kv.Value) != "1" || kv.ModRevision != rev || kv.Key != p+"a" {
		t.Fatalf("get: %+v %v (put rev %d)", kv, err, rev)
	}
	if _, err := s.Delete(c, p+"a"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(c, p+"a"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
}

func testCAS(t *testing.T, s store.Store) {
	c, p := ctx(t), unique(t)
	rev, err := s.Put(c, p+"k", []byte("v1"), store.IfModRevision(0))
	if err != nil {
		t.Fatalf("create-only put: %v", err)
	}
	if _, err := s.Put(c, p+"k", []byte("x"), store.IfModRevision(0)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("second create: %v", err)
	}
	if _, err := s.Put(c, p+"k", []byte("v2"), store.IfModRevision(rev)); err != nil {
		t.Fatalf("cas with current rev: %v", err)
	}
	if _, err := s.Put(c, p+"k", []byte("v3"), store.IfModRevision(rev)); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("cas with stale rev: %v", err)
	}
	if kv, _ := s.Get(c, p+"k"); string(kv.Value) != "v2" {
		t.Fatalf("value %q after a failed cas", kv.Value)
	}
}

func testList(t *testing.T, s store.Store) {
	c, p := ctx(t), unique(t)
	for _, k := range []string{"b", "a", "c"} {
		if _, err := s.Put(c, p+"dir/"+k, []byte(k)); err != nil {
			t.Fatal(err)
		}
	}
	s.Put(c, p+"other", []byte("x"))
	kvs, rev, err := s.List(c, p+"dir/")
	if err != nil {
		t.Fatal(err)
	}
	if len(kvs) != 3 || kvs[0].Key != p+"dir/a" || kvs[2].Key != p+"dir/c" {
		t.Fatalf("list %+v", kvs)
	}
	if rev < kvs[2].ModRevision {
		t.Fatalf("list revision %d older than its data %d", rev, kvs[2].ModRevision)
	}
}

func testWatch(t *testing.T, s store.Store) {
	c, p := ctx(t), unique(t)
	r1, _ := s.Put(c, p+"w/1", []byte("one"))
	s.Put(c, p+"w/2", []byte("two"))
	s.Delete(c, p+"w/1")
	// Watching from r1 replays everything after it: nothing is missed
	// between a List at r1 and the watch starting.
	wctx, cancel := context.WithCancel(c)
	defer cancel()
	ch := s.Watch(wctx, p+"w/", r1)
	want := []struct {
		typ store.EventType
		key string
	}{{store.EventPut, p + "w/2"}, {store.EventDelete, p + "w/1"}, {store.EventPut, p + "w/3"}}
	go s.Put(c, p+"w/3", []byte("three"))
	for i, w := range want {
		select {
		case ev, ok := <-ch:
			if !ok || ev.Err != nil {
				t.Fatalf("event %d: closed or %v", i, ev.Err)
			}
			if ev.Type != w.typ || ev.KV.Key != w.key {
				t.Fatalf("event %d = %v %s, want %v %s", i, ev.Type, ev.KV.Key, w.typ, w.key)
			}
		case <-c.Done():
			t.Fatalf("timed out waiting for event %d", i)
		}
	}
	cancel()
	for range ch { // closes once the watch's ctx ends
	}
}

func testLease(t *testing.T, s store.Store) {
	c, p := ctx(t), unique(t)
	lease, err := s.Grant(c, 2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(c, p+"inst", []byte("up"), store.WithLease(lease)); err != nil {
		t.Fatal(err)
	}
	if err := s.KeepAliveOnce(c, lease); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := s.Get(c, p+"inst")
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("leased key outlived its lease by 8s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := s.KeepAliveOnce(c, lease); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("keepalive on an expired lease: %v", err)
	}
	// Revoke deletes at once.
	l2, _ := s.Grant(c, 60)
	s.Put(c, p+"inst2", []byte("up"), store.WithLease(l2))
	if err := s.Revoke(c, l2); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(c, p+"inst2"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("key after revoke: %v", err)
	}
}

func testCompaction(t *testing.T, s store.Store) {
	c, p := ctx(t), unique(t)
	r1, _ := s.Put(c, p+"c", []byte("1"))
	r2, _ := s.Put(c, p+"c", []byte("2"))
	if err := s.Compact(c, r2); err != nil {
		t.Fatal(err)
	}
	// Another replica compacting to the same revision is not a failure,
	// but it must be recognisable.
	if err := s.Compact(c, r2); !errors.Is(err, store.ErrCompacted) {
		t.Fatalf("compacting twice: %v, want ErrCompacted", err)
	}
	ch := s.Watch(c, p, r1-1)
	select {
	case ev := <-ch:
		if !errors.Is(ev.Err, store.ErrCompacted) {
			t.Fatalf("watch from a compacted revision: %+v", ev)
		}
	case <-c.Done():
		t.Fatal("no compaction error")
	}
}

func testRevision(t *testing.T, s store.Store) {
	c, p := ctx(t), unique(t)
	r1, err := s.Put(c, p+"r", []byte("1"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Revision(c)
	if err != nil || got < r1 {
		t.Fatalf("Revision after a put at %d: %d, %v", r1, got, err)
	}
}

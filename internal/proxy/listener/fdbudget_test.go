package listener

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
)

// countBlock holds connections like blockHandler and counts every one.
type countBlock struct {
	blockHandler
	served atomic.Int32
}

func (c *countBlock) ServeConn(ctx context.Context, conn net.Conn) {
	c.served.Add(1)
	c.blockHandler.ServeConn(ctx, conn)
}

// Two listeners share a budget of 6 connections, 1 reserved for one and 2
// for the other (a listener's pending Accept holds a token too): a flood
// on the first stops at 4, the other still accepts, and a closed
// connection lets the paused one resume.
func TestFDBudgetPausesAcceptAndKeepsReserves(t *testing.T) {
	budget := NewFDBudget(6 * ConnFDs)
	flood := &countBlock{blockHandler: blockHandler{release: make(chan struct{})}}
	other := &blockHandler{release: make(chan struct{})}
	lf := startListener(t, Config{Name: "flood", Protocol: TCP, TCP: flood, FDs: budget.Share(1)})
	lo := startListener(t, Config{Name: "other", Protocol: TCP, TCP: other, FDs: budget.Share(2)})
	defer close(flood.release)
	defer close(other.release)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	dial := func(l *Listener) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for range 6 {
		dial(lf)
	}
	waitFor(t, "flood at 4", func() bool { return flood.active.Load() == 4 })
	dial(lo)
	waitFor(t, "other accepted", func() bool { return other.active.Load() == 1 })
	if n := flood.active.Load(); n != 4 {
		t.Fatalf("flood listener holds %d connections, want 4 (budget 6, other's reserve 2)", n)
	}
	if f := budget.Free(); f != 0 {
		t.Fatalf("budget free %d, want 0", f)
	}
	flood.release <- struct{}{}
	waitFor(t, "a queued flood connection accepted", func() bool { return flood.served.Load() == 5 })
	if n := flood.active.Load(); n != 4 {
		t.Fatalf("flood listener holds %d connections after one closed, want 4", n)
	}
}

func TestFDShareNilAdmitsAll(t *testing.T) {
	var s *FDShare
	if !s.acquire(nil) {
		t.Fatal("nil share refused")
	}
	s.release()
}

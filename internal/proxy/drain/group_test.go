package drain

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestWaitReturnsWhenAllDone(t *testing.T) {
	var g Group[int]
	g.Add(1, func() { t.Error("cut a finished item") })
	g.Add(2, func() { t.Error("cut a finished item") })
	go func() { g.Done(1); g.Done(2) }()
	if err := g.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestWaitCutsAtDeadline(t *testing.T) {
	var g Group[int]
	stuck := make(chan struct{})
	g.Add(1, func() { close(stuck) })
	go func() { <-stuck; g.Done(1) }()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := g.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v", err)
	}
	if g.Len() != 0 {
		t.Fatal("item left after Wait")
	}
}

func TestCloseRefusesNewItems(t *testing.T) {
	var g Group[string]
	g.Close()
	if g.Add("x", func() {}) || !g.Closed() {
		t.Fatal("admitted after Close")
	}
}

// Package drain tracks live connections or tunnels so a graceful shutdown
// can stop admitting new ones, wait for the rest to finish, and cut what is
// still open when its deadline passes.
package drain

import (
	"context"
	"sync"
)

// Group is a set of live items, each with the function that cuts it.
// The zero value is ready to use.
type Group[T comparable] struct {
	mu     sync.Mutex
	items  map[T]func()
	wg     sync.WaitGroup
	closed bool
}

// Add admits item, or reports false once Close was called.
func (g *Group[T]) Add(item T, cut func()) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return false
	}
	if g.items == nil {
		g.items = map[T]func(){}
	}
	g.items[item] = cut
	g.wg.Add(1)
	return true
}

// Done removes an item that finished.
func (g *Group[T]) Done(item T) {
	g.mu.Lock()
	delete(g.items, item)
	g.mu.Unlock()
	g.wg.Done()
}

// Close stops admitting items.
func (g *Group[T]) Close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}

// Closed reports whether Close was called.
func (g *Group[T]) Closed() bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.closed
}

// Each calls f for every live item while holding the group's lock; f must
// not call back into the group.
func (g *Group[T]) Each(f func(T)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for it := range g.items {
		f(it)
	}
}

// Len is the number of live items.
func (g *Group[T]) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.items)
}

// Wait blocks until every item is Done. If ctx ends first it cuts every
// live item, still waits for them to finish, and returns ctx's error.
func (g *Group[T]) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		g.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		g.mu.Lock()
		for _, cut := range g.items {
			cut()
		}
		g.mu.Unlock()
		<-done
		return ctx.Err()
	}
}

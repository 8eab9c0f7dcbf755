package listener

import "sync"

// ConnFDs is what one downstream connection is charged against an
// FDBudget: its own socket and the upstream connection it usually holds
// (a tunnel's, or a pooled HTTP one).
const ConnFDs = 2

// FDBudget caps the file descriptors held by data-plane connections
// across every listener of a process, so that the process reaches the
// budget and pauses accepting (new connections wait in the kernel
// backlog) before it reaches RLIMIT_NOFILE, where every accept and dial
// fails, the admin port's included.
type FDBudget struct {
	mu   sync.Mutex
	free int           // tokens (connections) not reserved or lent
	wake chan struct{} // closed and replaced when a token returns to free
	// waiting says an acquire is blocked, so a release must wake it.
	waiting bool
}

// NewFDBudget returns a budget of fds file descriptors, that is
// fds/ConnFDs connections.
func NewFDBudget(fds int) *FDBudget {
	return &FDBudget{free: max(fds/ConnFDs, 0), wake: make(chan struct{})}
}

// Free is the number of connections the budget can still admit beyond
// the listeners' reserves.
func (b *FDBudget) Free() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}

// Share gives one listener its claim on the budget, with up to reserve
// connections held for it alone: a flood on one port (tunnels through the
// proxy port) cannot take the last fd from another. A nil budget gives
// a nil share, which admits everything. A listener's pending Accept holds
// one token, so a reserve of at least 1 keeps idle listeners off the
// shared part.
func (b *FDBudget) Share(reserve int) *FDShare {
	if b == nil {
		return nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	r := min(max(reserve, 0), b.free)
	b.free -= r
	return &FDShare{b: b, reserved: r}
}

// FDShare is one listener's claim on an FDBudget. A nil *FDShare admits
// everything.
type FDShare struct {
	b        *FDBudget
	reserved int
	used     int // guarded by b.mu
}

// tryAcquire takes one connection's worth without waiting. When it
// fails, wait is closed once a token may have returned.
func (s *FDShare) tryAcquire() (ok bool, wait <-chan struct{}) {
	if s == nil {
		return true, nil
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.used < s.reserved {
		s.used++
		return true, nil
	}
	if b.free > 0 {
		b.free--
		s.used++
		return true, nil
	}
	b.waiting = true
	return false, b.wake
}

// acquire waits for one connection's worth until done is closed.
func (s *FDShare) acquire(done <-chan struct{}) bool {
	for {
		ok, wait := s.tryAcquire()
		if ok {
			return true
		}
		select {
		case <-wait:
		case <-done:
			return false
		}
	}
}

// release returns one connection's worth.
func (s *FDShare) release() {
	if s == nil {
		return
	}
	b := s.b
	b.mu.Lock()
	defer b.mu.Unlock()
	if s.used > s.reserved {
		b.free++
		if b.waiting {
			b.waiting = false
			close(b.wake)
			b.wake = make(chan struct{})
		}
	}
	s.used--
}

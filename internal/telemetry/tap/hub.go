package tap

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"
)

// MaxSessions caps a sidecar's concurrent tap sessions.
const MaxSessions = 8

// ErrTooManySessions: MaxSessions are open.
var ErrTooManySessions = errors.New("tap: too many sessions")

// Hub fans a sidecar's finished requests out to its open sessions. The
// zero value is ready; a nil *Hub is never active.
type Hub struct {
	// active counts open sessions: the engines read it on every request.
	active atomic.Int32
	mu     sync.Mutex // guards opening and closing
	slots  [MaxSessions]atomic.Pointer[Session]
}

// Active reports whether any session is open. It is the only cost of
// tap on the request path while nobody taps.
func (h *Hub) Active() bool { return h != nil && h.active.Load() > 0 }

// Open starts a session; Close ends it.
func (h *Hub) Open(o Options) (*Session, error) {
	o = o.withDefaults()
	s := &Session{hub: h, filter: o.Filter, events: make(chan Event, BufferSize), bucket: NewBucket(o.Rate, time.Now())}
	h.mu.Lock()
	defer h.mu.Unlock()
	for i := range h.slots {
		if h.slots[i].Load() == nil {
			s.slot = i
			h.slots[i].Store(s)
			h.active.Add(1)
			return s, nil
		}
	}
	return nil, ErrTooManySessions
}

// Publish offers ev to every open session. Sessions copy it.
func (h *Hub) Publish(ev *Event) {
	if !h.Active() {
		return
	}
	now := time.Now()
	for i := range h.slots {
		if s := h.slots[i].Load(); s != nil {
			s.offer(ev, now)
		}
	}
}

// Session is one tap: its filter, its token bucket and its buffer.
type Session struct {
	hub    *Hub
	slot   int
	filter Filter
	events chan Event

	bucket *Bucket

	matched, limited, dropped atomic.Uint64
	closeOnce                 sync.Once
}

// Stats are a session's counters.
type Stats struct {
	// Matched events passed the filter; RateLimited of those were over
	// the rate and Dropped found the buffer full. The rest were sent.
	Matched     uint64 `json:"matched"`
	RateLimited uint64 `json:"rateLimited"`
	Dropped     uint64 `json:"dropped"`
}

func (s *Session) offer(ev *Event, now time.Time) {
	if !s.filter.Match(ev) {
		return
	}
	s.matched.Add(1)
	if !s.bucket.Allow(now) {
		s.limited.Add(1)
		return
	}
	select {
	case s.events <- *ev:
	default:
		s.dropped.Add(1)
	}
}

// Events delivers the session's events.
func (s *Session) Events() <-chan Event { return s.events }

// Stats returns the counters so far.
func (s *Session) Stats() Stats {
	return Stats{Matched: s.matched.Load(), RateLimited: s.limited.Load(), Dropped: s.dropped.Load()}
}

// Close ends the session and frees its slot. Safe to call twice.
func (s *Session) Close() {
	s.closeOnce.Do(func() {
		h := s.hub
		h.mu.Lock()
		h.slots[s.slot].Store(nil)
		h.active.Add(-1)
		h.mu.Unlock()
	})
}

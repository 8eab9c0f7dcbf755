// Package breaker holds a cluster's circuit breaker (caps on connections,
// pending requests, requests and retries in flight) and the outlier
// detector that ejects failing endpoints. Both run on atomics alone on the
// request path, and read time from an injected Clock so tests control it.
package breaker

import "sync/atomic"

// Kind is one resource a Breaker caps.
type Kind uint8

const (
	Connections Kind = iota // open upstream connections, all endpoints together
	Pending                 // requests waiting for an upstream connection
	Requests                // requests in flight
	Retries                 // retries in flight
	numKinds
)

var kindNames = [numKinds]string{"connections", "pending", "requests", "retries"}

// String is the kind's metric label value.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// Kinds lists every kind, for exposition.
var Kinds = [...]Kind{Connections, Pending, Requests, Retries}

// Limits caps each Kind for one cluster in one sidecar (Envoy's per-cluster
// thresholds). Zero means no cap.
type Limits struct {
	MaxConnections     uint32
	MaxPendingRequests uint32
	MaxRequests        uint32
	MaxRetries         uint32
}

// Breaker counts what is in flight and refuses what would pass a cap. It
// never queues: a refused caller fails fast. Safe for concurrent use; the
// zero value caps nothing.
type Breaker struct {
	limit     [numKinds]atomic.Uint32
	active    [numKinds]atomic.Int64
	overflows [numKinds]atomic.Uint64
}

// New returns a breaker with limits l.
func New(l Limits) *Breaker {
	b := &Breaker{}
	b.SetLimits(l)
	return b
}

// SetLimits replaces the caps; what is in flight stays counted, so a config
// update never lets a burst through.
func (b *Breaker) SetLimits(l Limits) {
	b.limit[Connections].Store(l.MaxConnections)
	b.limit[Pending].Store(l.MaxPendingRequests)
	b.limit[Requests].Store(l.MaxRequests)
	b.limit[Retries].Store(l.MaxRetries)
}

// Limits returns the current caps.
func (b *Breaker) Limits() Limits {
	return Limits{
		MaxConnections:     b.limit[Connections].Load(),
		MaxPendingRequests: b.limit[Pending].Load(),
		MaxRequests:        b.limit[Requests].Load(),
		MaxRetries:         b.limit[Retries].Load(),
	}
}

// Acquire takes one unit of k, or counts an overflow and reports false
// when that would pass the cap. Every true must be paired with Release.
func (b *Breaker) Acquire(k Kind) bool {
	n := b.active[k].Add(1)
	if max := b.limit[k].Load(); max > 0 && n > int64(max) {
		b.active[k].Add(-1)
		b.overflows[k].Add(1)
		return false
	}
	return true
}

// Release returns one unit of k taken by Acquire.
func (b *Breaker) Release(k Kind) { b.active[k].Add(-1) }

// Active is how many units of k are held.
func (b *Breaker) Active(k Kind) int64 { return b.active[k].Load() }

// Overflows is how many Acquire calls of k were refused, ever.
func (b *Breaker) Overflows(k Kind) uint64 { return b.overflows[k].Load() }

// AcquireConn and ReleaseConn let a connection pool count its
// connections against the cluster's cap.
func (b *Breaker) AcquireConn() bool { return b.Acquire(Connections) }

// ReleaseConn returns a connection's unit.
func (b *Breaker) ReleaseConn() { b.Release(Connections) }

package balance

import (
	"math/rand/v2"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Picker returns the index of the chosen endpoint, or -1 when there is none.
// hash is used only by hashing pickers, and only when hasHash.
type Picker interface {
	Pick(hash uint64, hasHash bool) int
}

// P2C is power of two choices over peak-EWMA cost: pick two endpoints at
// random and take the cheaper. It avoids slow and overloaded hosts without
// the herd behaviour of always taking the single best.
type P2C struct {
	stats   []*Stats
	weights []float64
	now     func() int64
	rnd     func() uint64
}

var _ Picker = (*P2C)(nil)

// NewP2C balances over stats; weights (0 treated as 1) divide the cost.
func NewP2C(stats []*Stats, weights []uint32) *P2C {
	p := &P2C{stats: stats, now: func() int64 { return time.Now().UnixNano() }, rnd: rand.Uint64}
	for i := range stats {
		w := uint32(1)
		if i < len(weights) && weights[i] > 0 {
			w = weights[i]
		}
		p.weights = append(p.weights, float64(w))
	}
	return p
}

// Pick implements Picker.
func (p *P2C) Pick(uint64, bool) int {
	n := len(p.stats)
	switch n {
	case 0:
		return -1
	case 1:
		return 0
	}
	r := p.rnd()
	a := int(r % uint64(n))
	b := int((r >> 32) % uint64(n-1))
	if b >= a {
		b++
	}
	now := p.now()
	if p.stats[a].cost(now)/p.weights[a] <= p.stats[b].cost(now)/p.weights[b] {
		return a
	}
	return b
}

// RoundRobin is smooth weighted round robin (nginx's): with weights 5,1,1
// it yields a a b a c a a, spreading the heavy endpoint out.
type RoundRobin struct {
	equal   bool
	next    atomic.Uint64
	mu      sync.Mutex
	weights []int64
	current []int64
	total   int64
}

var _ Picker = (*RoundRobin)(nil)

// NewRoundRobin returns a picker over len(weights) endpoints (0 means 1).
func NewRoundRobin(weights []uint32) *RoundRobin {
	rr := &RoundRobin{equal: true, current: make([]int64, len(weights))}
	for _, w := range weights {
		if w == 0 {
			w = 1
		}
		rr.weights = append(rr.weights, int64(w))
		rr.total += int64(w)
		if int64(w) != rr.weights[0] {
			rr.equal = false
		}
	}
	return rr
}

// Pick implements Picker.
func (rr *RoundRobin) Pick(uint64, bool) int {
	n := len(rr.weights)
	if n == 0 {
		return -1
	}
	if rr.equal {
		return int((rr.next.Add(1) - 1) % uint64(n))
	}
	rr.mu.Lock()
	defer rr.mu.Unlock()
	best := 0
	for i := range rr.current {
		rr.current[i] += rr.weights[i]
		if rr.current[i] > rr.current[best] {
			best = i
		}
	}
	rr.current[best] -= rr.total
	return best
}

// Ring is a consistent-hash ring (ketama-style virtual nodes), so a key
// keeps its endpoint and removing one endpoint moves only its keys.
type Ring struct {
	hashes []uint64
	owners []int
	rr     *RoundRobin // for requests without a key
}

var _ Picker = (*Ring)(nil)

// VnodesPerWeight is how many ring points one unit of weight gets.
const VnodesPerWeight = 100

// maxVnodes caps the ring's size whatever the weights.
const maxVnodes = 100_000

// NewRing places each endpoint, identified by its key (its address),
// on the ring.
func NewRing(keys []string, weights []uint32) *Ring {
	type point struct {
		h     uint64
		owner int
	}
	var total uint64
	for i := range keys {
		total += uint64(weightAt(weights, i))
	}
	scale := 1.0
	if total*VnodesPerWeight > maxVnodes {
		scale = float64(maxVnodes) / float64(total*VnodesPerWeight)
	}
	var pts []point
	for i, k := range keys {
		n := max(int(float64(weightAt(weights, i)*VnodesPerWeight)*scale), 1)
		for v := 0; v < n; v++ {
			pts = append(pts, point{mix(fnv64(k + "#" + strconv.Itoa(v))), i})
		}
	}
	sort.Slice(pts, func(a, b int) bool { return pts[a].h < pts[b].h })
	r := &Ring{rr: NewRoundRobin(weights)}
	for _, p := range pts {
		r.hashes = append(r.hashes, p.h)
		r.owners = append(r.owners, p.owner)
	}
	return r
}

func weightAt(w []uint32, i int) uint32 {
	if i < len(w) && w[i] > 0 {
		return w[i]
	}
	return 1
}

// Pick implements Picker: the first ring point at or after the key's hash.
func (r *Ring) Pick(hash uint64, hasHash bool) int {
	if len(r.hashes) == 0 {
		return -1
	}
	if !hasHash {
		return r.rr.Pick(0, false)
	}
	h := mix(hash)
	lo, hi := 0, len(r.hashes)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if r.hashes[m] < h {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if lo == len(r.hashes) {
		lo = 0
	}
	return r.owners[lo]
}

func fnv64(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix spreads FNV's output over the ring (splitmix64 finaliser).
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

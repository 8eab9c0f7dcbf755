// Package balance picks an endpoint for each request: power of two choices
// over peak-EWMA latency (the default, as in Finagle and Linkerd), smooth
// weighted round robin, or a consistent-hash ring.
package balance

import (
	"math"
	"sync"
	"time"
)

// Defaults of the latency estimate.
const (
	// DecayTime is the EWMA time constant: how fast an old sample fades.
	DecayTime = 10 * time.Second
	// DefaultRTT is assumed for an endpoint with no samples, so new
	// endpoints get traffic without being flooded.
	DefaultRTT = 5 * time.Millisecond
	// FailurePenalty is the latency sample recorded for a failed request,
	// so an endpoint that fails fast does not look fast.
	FailurePenalty = time.Second
)

// Stats is one endpoint's load: requests in flight and a peak-sensitive
// moving average of latency. It survives config updates with its endpoint.
type Stats struct {
	mu       sync.Mutex
	inflight int64
	ewma     float64 // nanoseconds; 0 = no sample yet
	stamp    int64   // unix ns of the last update
}

// Init stamps a new endpoint's creation, from which its assumed DefaultRTT
// decays (as Linkerd's does): under light load, where P2C always picks the
// cheaper endpoint, a newcomer would otherwise never be tried next to a
// fast incumbent.
func (s *Stats) Init(now time.Time) {
	s.mu.Lock()
	if s.stamp == 0 {
		s.stamp = now.UnixNano()
	}
	s.mu.Unlock()
}

// Begin counts a request in flight.
func (s *Stats) Begin() {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
}

// End records a finished request that took rtt.
func (s *Stats) End(now time.Time, rtt time.Duration, failed bool) {
	sample := float64(rtt)
	if failed {
		sample = max(sample, float64(FailurePenalty))
	}
	ns := now.UnixNano()
	s.mu.Lock()
	s.inflight--
	switch {
	case s.ewma == 0 || sample > s.ewma:
		s.ewma = sample // peak: jump up at once
	default:
		w := math.Exp(-float64(ns-s.stamp) / float64(DecayTime))
		s.ewma = s.ewma*w + sample*(1-w)
	}
	s.stamp = ns
	s.mu.Unlock()
}

// Snapshot returns requests in flight and the latency estimate.
func (s *Stats) Snapshot() (inflight int64, ewma time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inflight, time.Duration(s.ewma)
}

// cost is the expected wait on this endpoint: latency times queue depth.
// The estimate decays toward zero while no sample arrives, so a host that
// was slow once is probed again (Finagle's behaviour).
func (s *Stats) cost(ns int64) float64 {
	s.mu.Lock()
	e, in, stamp := s.ewma, s.inflight, s.stamp
	s.mu.Unlock()
	if e == 0 {
		e = float64(DefaultRTT)
	}
	if stamp != 0 && ns > stamp {
		e *= math.Exp(-float64(ns-stamp) / float64(DecayTime))
	}
	return max(e, 1) * float64(in+1)
}

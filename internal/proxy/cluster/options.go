package cluster

import "github.com/weft-mesh/weft/internal/proxy/breaker"

// Observer hears about events a cluster set makes on its own, away from
// any request's engine (metrics plug in here).
type Observer interface {
	// Ejected is called once per outlier ejection in cluster.
	Ejected(cluster string)
}

// Option tunes NewSet.
type Option func(*options)

type options struct {
	clock    breaker.Clock
	obs      Observer
	locality Locality
	rnd      func() uint64
}

// WithLocality tells the clusters where the sidecar runs, which turns on
// locality-aware balancing (see Config.NoLocality). The zero Locality
// leaves it off.
func WithLocality(l Locality) Option { return func(o *options) { o.locality = l } }

// WithRand makes locality-aware balancing choose tiers with rnd instead of
// math/rand (tests inject a sequence).
func WithRand(rnd func() uint64) Option { return func(o *options) { o.rnd = rnd } }

// WithClock makes outlier detection read c instead of the system clock.
func WithClock(c breaker.Clock) Option { return func(o *options) { o.clock = c } }

// WithObserver reports ejections to obs.
func WithObserver(obs Observer) Option { return func(o *options) { o.obs = obs } }

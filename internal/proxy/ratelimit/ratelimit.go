// Package ratelimit is the local rate-limit filter: a token bucket per route
// (or per service), checked with one atomic compare-and-swap per request.
package ratelimit

import (
	"sync/atomic"
	"time"
)

// Config is one token bucket: Rate tokens per second refilled continuously,
// holding at most Burst. A full bucket admits Burst requests at once; after
// that, one every 1/Rate seconds.
type Config struct {
	// Rate is tokens added per second; must be > 0.
	Rate float64
	// Burst is the bucket's capacity in tokens, and its initial fill; >= 1.
	Burst uint32
}

// Valid reports whether c describes a bucket that admits anything.
func (c Config) Valid() bool { return c.Rate > 0 && c.Rate <= 1e9 && c.Burst >= 1 }

// Bucket is a token bucket kept as one timestamp, the generic cell rate
// algorithm: tat is when the bucket would be full again. A request adds one
// interval to it and is admitted when that stays within the burst's
// allowance of now. One word of state means one CAS per request and no
// lock, and the bucket never needs a refill timer.
type Bucket struct {
	cfg      Config
	interval int64 // ns per token
	window   int64 // ns: Burst tokens' worth
	tat      atomic.Int64
}

// New returns a full bucket for cfg, or nil when cfg is not Valid.
func New(cfg Config) *Bucket {
	if !cfg.Valid() {
		return nil
	}
	iv := int64(float64(time.Second) / cfg.Rate)
	if iv < 1 {
		iv = 1
	}
	return &Bucket{cfg: cfg, interval: iv, window: iv * int64(cfg.Burst)}
}

// Config returns the bucket's configuration.
func (b *Bucket) Config() Config { return b.cfg }

// Allow takes one token at now (nanoseconds on any monotonic clock the
// caller keeps using, see Now). When the bucket is empty it takes nothing
// and returns how long until a token is there.
func (b *Bucket) Allow(now int64) (ok bool, wait time.Duration) {
	for {
		tat := b.tat.Load()
		next := max(tat, now) + b.interval
		if over := next - now - b.window; over > 0 {
			return false, time.Duration(over)
		}
		if b.tat.CompareAndSwap(tat, next) {
			return true, 0
		}
	}
}

// epoch anchors Now; time.Since on it reads the monotonic clock.
var epoch = time.Now()

// Now converts t to the bucket clock: nanoseconds since process start,
// monotonic, so wall-clock steps neither refill nor drain buckets.
func Now(t time.Time) int64 { return int64(t.Sub(epoch)) }

// RetryAfter renders wait as whole seconds for a Retry-After header,
// rounded up so a client that waits that long finds a token; at least 1.
func RetryAfter(wait time.Duration) int64 {
	s := int64((wait + time.Second - 1) / time.Second)
	return max(s, 1)
}

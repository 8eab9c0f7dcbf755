package tap

import (
	"sync"
	"time"
)

// Bucket is a token bucket: Rate tokens a second, holding at most one
// second's worth (the burst). Safe for concurrent use.
type Bucket struct {
	mu     sync.Mutex
	rate   float64
	tokens float64
	last   time.Time
}

// NewBucket returns a full bucket of rate tokens a second.
func NewBucket(rate int, now time.Time) *Bucket {
	return &Bucket{rate: float64(rate), tokens: float64(rate), last: now}
}

// Allow takes a token if there is one.
func (b *Bucket) Allow(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if d := now.Sub(b.last); d > 0 {
		b.tokens = min(b.rate, b.tokens+d.Seconds()*b.rate)
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

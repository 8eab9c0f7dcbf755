package fault

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// Over many draws each share lands within five standard deviations of
// what was asked, and delay and abort are independent.
func TestDecideShares(t *testing.T) {
	const n = 200_000
	for _, tt := range []struct{ delay, abort uint32 }{
		{100_000, 100_000}, {500_000, 10_000}, {Million, 0}, {0, Million}, {1, 999_999},
	} {
		c := Config{Delay: time.Second, DelayShare: tt.delay, AbortHTTP: 503, AbortShare: tt.abort}
		rng := rand.New(rand.NewPCG(1, 2))
		var delayed, aborted, both int
		for i := 0; i < n; i++ {
			d := c.Decide(rng.Uint64())
			if d.Delay > 0 {
				delayed++
			}
			if d.Abort {
				aborted++
			}
			if d.Delay > 0 && d.Abort {
				both++
			}
		}
		pd, pa := float64(tt.delay)/Million, float64(tt.abort)/Million
		check := func(what string, got int, p float64) {
			want := p * n
			tol := 5*math.Sqrt(n*p*(1-p)) + 1
			if math.Abs(float64(got)-want) > tol {
				t.Errorf("shares %d/%d: %s %d of %d, want %.0f ± %.0f", tt.delay, tt.abort, what, got, n, want, tol)
			}
		}
		check("delayed", delayed, pd)
		check("aborted", aborted, pa)
		check("both", both, pd*pa)
	}
}

// The xorshift the HTTP/1 engine draws from gives the same shares.
func TestDecideWithXorshift(t *testing.T) {
	c := Config{AbortGRPC: 14, AbortShare: 100_000}
	x := uint64(0x9E3779B97F4A7C15)
	aborted := 0
	const n = 100_000
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if c.Decide(x).Abort {
			aborted++
		}
	}
	if aborted < 9_000 || aborted > 11_000 {
		t.Fatalf("aborted %d of %d at 10%%", aborted, n)
	}
}

func TestNoFaultWhenUnset(t *testing.T) {
	var c Config
	for _, r := range []uint64{0, math.MaxUint64, 12345} {
		if d := c.Decide(r); d != (Decision{}) {
			t.Fatalf("empty config decided %+v", d)
		}
	}
}

func TestStatus(t *testing.T) {
	for _, tt := range []struct {
		c    Config
		want int
	}{{Config{AbortHTTP: 418}, 418}, {Config{AbortGRPC: 14}, 503}, {Config{AbortGRPC: 8}, 429}, {Config{AbortGRPC: 2}, 500}} {
		if got := tt.c.Status(); got != tt.want {
			t.Errorf("%+v: Status() = %d, want %d", tt.c, got, tt.want)
		}
	}
}

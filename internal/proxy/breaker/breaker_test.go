package breaker

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestBreakerCapsEachKind(t *testing.T) {
	b := New(Limits{MaxConnections: 1, MaxPendingRequests: 2, MaxRequests: 3, MaxRetries: 1})
	for _, tc := range []struct {
		k   Kind
		max int
	}{{Connections, 1}, {Pending, 2}, {Requests, 3}, {Retries, 1}} {
		t.Run(tc.k.String(), func(t *testing.T) {
			for i := 0; i < tc.max; i++ {
				if !b.Acquire(tc.k) {
					t.Fatalf("acquire %d of %d refused", i+1, tc.max)
				}
			}
			if b.Acquire(tc.k) {
				t.Fatal("acquire past the cap succeeded")
			}
			if b.Overflows(tc.k) != 1 || b.Active(tc.k) != int64(tc.max) {
				t.Fatalf("overflows %d active %d", b.Overflows(tc.k), b.Active(tc.k))
			}
			b.Release(tc.k)
			if !b.Acquire(tc.k) {
				t.Fatal("acquire after a release refused")
			}
		})
	}
}

func TestBreakerZeroCapsNothing(t *testing.T) {
	var b Breaker
	for i := 0; i < 10000; i++ {
		if !b.Acquire(Requests) {
			t.Fatal("zero breaker refused")
		}
	}
}

// Under contention the cap is never passed, and every unit comes back.
func TestBreakerConcurrentNeverPassesCap(t *testing.T) {
	b := New(Limits{MaxRequests: 4})
	var wg sync.WaitGroup
	var holders, peak atomic.Int64
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if b.Acquire(Requests) {
					n := holders.Add(1)
					for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
					}
					holders.Add(-1)
					b.Release(Requests)
				}
			}
		}()
	}
	wg.Wait()
	if peak.Load() > 4 || b.Active(Requests) != 0 {
		t.Fatalf("peak %d active %d", peak.Load(), b.Active(Requests))
	}
}

func TestBreakerSetLimitsKeepsCounts(t *testing.T) {
	b := New(Limits{MaxRequests: 2})
	b.Acquire(Requests)
	b.Acquire(Requests)
	b.SetLimits(Limits{MaxRequests: 1})
	if b.Acquire(Requests) {
		t.Fatal("lowered cap let a request through")
	}
	b.SetLimits(Limits{MaxRequests: 3})
	if !b.Acquire(Requests) {
		t.Fatal("raised cap refused")
	}
}

package ratelimit

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBucketBurstThenRate(t *testing.T) {
	b := New(Config{Rate: 100, Burst: 5})
	now := int64(time.Hour) // any start: a fresh bucket is full
	for i := 0; i < 5; i++ {
		if ok, _ := b.Allow(now); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	ok, wait := b.Allow(now)
	if ok {
		t.Fatal("sixth request at the same instant admitted past a burst of 5")
	}
	if wait != 10*time.Millisecond {
		t.Fatalf("wait = %v, want 10ms (one token at 100/s)", wait)
	}
	if ok, _ := b.Allow(now + int64(9*time.Millisecond)); ok {
		t.Fatal("admitted before a token was refilled")
	}
	if ok, _ := b.Allow(now + int64(10*time.Millisecond)); !ok {
		t.Fatal("refused once a token was refilled")
	}
}

// Over a long run a saturating client gets Rate per second plus the burst.
func TestBucketSustainedRate(t *testing.T) {
	b := New(Config{Rate: 100, Burst: 10})
	admitted := 0
	// 3 s of a client sending every millisecond (1000/s).
	for ms := int64(0); ms < 3000; ms++ {
		if ok, _ := b.Allow(ms * int64(time.Millisecond)); ok {
			admitted++
		}
	}
	if want := 10 + 300; admitted < want-1 || admitted > want+1 {
		t.Fatalf("admitted %d in 3s at 100/s burst 10, want %d", admitted, want)
	}
}

// An idle bucket refills to Burst, never beyond.
func TestBucketRefillCapped(t *testing.T) {
	b := New(Config{Rate: 1, Burst: 3})
	for i := 0; i < 3; i++ {
		b.Allow(0)
	}
	later := int64(time.Hour)
	n := 0
	for i := 0; i < 10; i++ {
		if ok, _ := b.Allow(later); ok {
			n++
		}
	}
	if n != 3 {
		t.Fatalf("after an hour idle %d admitted at once, want the burst 3", n)
	}
}

// Concurrent takers never get more than the bucket holds.
func TestBucketConcurrent(t *testing.T) {
	b := New(Config{Rate: 1, Burst: 1000})
	var got atomic.Int64
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				if ok, _ := b.Allow(0); ok {
					got.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if got.Load() != 1000 {
		t.Fatalf("admitted %d, want exactly the burst 1000", got.Load())
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		wait time.Duration
		want int64
	}{{time.Millisecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {0, 1}} {
		if got := RetryAfter(tt.wait); got != tt.want {
			t.Errorf("RetryAfter(%v) = %d, want %d", tt.wait, got, tt.want)
		}
	}
}

func TestNewInvalid(t *testing.T) {
	for _, c := range []Config{{}, {Rate: 1}, {Burst: 1}, {Rate: -1, Burst: 1}} {
		if New(c) != nil {
			t.Errorf("New(%+v) built a bucket", c)
		}
	}
}

func BenchmarkAllow(b *testing.B) {
	bk := New(Config{Rate: 1e9, Burst: 1 << 30})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		bk.Allow(int64(i))
	}
}

package balance

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestP2CAvoidsSlowEndpoint(t *testing.T) {
	stats := []*Stats{{}, {}, {}}
	p := NewP2C(stats, nil)
	now := time.Now()
	// Endpoint 2 is 50x slower than the others.
	for i := 0; i < 20; i++ {
		for j, rtt := range []time.Duration{time.Millisecond, time.Millisecond, 50 * time.Millisecond} {
			stats[j].Begin()
			stats[j].End(now, rtt, false)
		}
	}
	counts := make([]int, 3)
	for i := 0; i < 3000; i++ {
		counts[p.Pick(0, false)]++
	}
	if counts[2] > 300 {
		t.Fatalf("slow endpoint got %d of 3000 picks: %v", counts[2], counts)
	}
	if counts[0] < 1000 || counts[1] < 1000 {
		t.Fatalf("fast endpoints unevenly used: %v", counts)
	}
}

func TestP2CPenalisesFailuresAndInflight(t *testing.T) {
	stats := []*Stats{{}, {}}
	p := NewP2C(stats, nil)
	now := time.Now()
	stats[0].Begin()
	stats[0].End(now, time.Microsecond, true) // fast failure
	stats[1].Begin()
	stats[1].End(now, time.Millisecond, false)
	for i := 0; i < 100; i++ {
		if got := p.Pick(0, false); got != 1 {
			t.Fatalf("picked failing endpoint %d", got)
		}
	}
	// Many requests in flight on 1 make the idle 0... still cost more: 1s
	// penalty vs 1ms x 101. Now load 1 past that point.
	for i := 0; i < 2000; i++ {
		stats[1].Begin()
	}
	if got := p.Pick(0, false); got != 0 {
		t.Fatalf("picked overloaded endpoint %d", got)
	}
}

func TestPeakEWMADecays(t *testing.T) {
	var s Stats
	t0 := time.Now()
	s.Begin()
	s.End(t0, 100*time.Millisecond, false)
	s.Begin()
	s.End(t0.Add(30*time.Second), time.Millisecond, false) // 3 time constants later
	_, e := s.Snapshot()
	if e > 10*time.Millisecond || e < time.Millisecond {
		t.Fatalf("ewma %v after decay, want close to 1ms", e)
	}
	s.Begin()
	s.End(t0.Add(30*time.Second), 80*time.Millisecond, false)
	if _, e := s.Snapshot(); e != 80*time.Millisecond {
		t.Fatalf("peak not taken at once: %v", e)
	}
}

func TestSmoothWeightedRoundRobin(t *testing.T) {
	rr := NewRoundRobin([]uint32{5, 1, 1})
	var seq string
	for i := 0; i < 7; i++ {
		seq += string(rune('a' + rr.Pick(0, false)))
	}
	if seq != "aabacaa" {
		t.Fatalf("sequence %q, want aabacaa", seq)
	}
	eq := NewRoundRobin([]uint32{1, 1, 1})
	for i := 0; i < 6; i++ {
		if got := eq.Pick(0, false); got != i%3 {
			t.Fatalf("pick %d = %d", i, got)
		}
	}
	if NewRoundRobin(nil).Pick(0, false) != -1 {
		t.Fatal("empty round robin picked")
	}
}

func TestRingStableAndMinimalRemap(t *testing.T) {
	keys := []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80", "10.0.0.4:80"}
	full := NewRing(keys, nil)
	less := NewRing(keys[:3], nil)
	moved, counts := 0, make([]int, 4)
	for k := uint64(0); k < 10000; k++ {
		h := fnv64(fmt.Sprint(k))
		a := full.Pick(h, true)
		if a != full.Pick(h, true) {
			t.Fatal("ring not stable")
		}
		counts[a]++
		if b := less.Pick(h, true); a != 3 && a != b {
			moved++
		}
	}
	if moved != 0 {
		t.Fatalf("%d keys moved between surviving endpoints", moved)
	}
	for i, c := range counts {
		if c < 1500 || c > 3500 {
			t.Fatalf("endpoint %d got %d of 10000 keys: %v", i, c, counts)
		}
	}
}

func TestConcurrentPicks(t *testing.T) {
	stats := []*Stats{{}, {}, {}}
	pickers := []Picker{NewP2C(stats, []uint32{1, 2, 3}), NewRoundRobin([]uint32{1, 2, 3}), NewRing([]string{"a", "b", "c"}, nil)}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				for _, p := range pickers {
					j := p.Pick(uint64(i), true)
					stats[j].Begin()
					stats[j].End(time.Now(), time.Millisecond, false)
				}
			}
		}()
	}
	wg.Wait()
	for i, s := range stats {
		if in, _ := s.Snapshot(); in != 0 {
			t.Fatalf("endpoint %d in flight %d after all ended", i, in)
		}
	}
}

func BenchmarkP2CPick(b *testing.B) {
	stats := make([]*Stats, 10)
	for i := range stats {
		stats[i] = &Stats{}
	}
	p := NewP2C(stats, nil)
	b.ReportAllocs()
	for b.Loop() {
		p.Pick(0, false)
	}
}

func BenchmarkRingPick(b *testing.B) {
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("10.0.0.%d:80", i)
	}
	r := NewRing(keys, nil)
	b.ReportAllocs()
	var h uint64
	for b.Loop() {
		h++
		r.Pick(h, true)
	}
}

// A new endpoint's assumed latency decays from its creation, so under
// sequential load (where P2C always picks the cheaper of two) it is tried
// eventually instead of being starved by a fast incumbent forever.
func TestP2CNewEndpointIsEventuallyTried(t *testing.T) {
	start := time.Unix(1000, 0)
	fast, fresh := &Stats{}, &Stats{}
	fast.Init(start)
	fresh.Init(start)
	fast.Begin()
	fast.End(start, 200*time.Microsecond, false)
	p := NewP2C([]*Stats{fast, fresh}, nil)
	now := start
	p.now = func() int64 { return now.UnixNano() }
	if p.Pick(0, false) != 0 {
		t.Fatal("at first the fast incumbent must win")
	}
	now = start.Add(time.Minute)
	fast.Begin()
	fast.End(now, 200*time.Microsecond, false)
	if p.Pick(0, false) != 1 {
		t.Fatal("after a minute the newcomer's assumed latency should have decayed below the incumbent's")
	}
}

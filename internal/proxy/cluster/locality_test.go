package cluster

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
)

type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func TestTierOf(t *testing.T) {
	self := Locality{Region: "eu", Zone: "eu-a"}
	for _, tc := range []struct {
		self, ep Locality
		want     Tier
	}{
		{self, Locality{Region: "eu", Zone: "eu-a"}, TierZone},
		{self, Locality{Zone: "eu-a"}, TierZone}, // no region named: the zone decides
		{self, Locality{Region: "eu", Zone: "eu-b"}, TierRegion},
		{self, Locality{Region: "eu"}, TierRegion},
		{self, Locality{Region: "us", Zone: "eu-a"}, TierRemote}, // same zone name, other region
		{self, Locality{}, TierRemote},
		{Locality{Zone: "a"}, Locality{Region: "r", Zone: "a"}, TierZone},
		{Locality{Zone: "a"}, Locality{Zone: "b"}, TierRemote},
		{Locality{}, Locality{Zone: "a"}, TierRemote},
	} {
		if got := TierOf(tc.self, tc.ep); got != tc.want {
			t.Errorf("TierOf(%+v, %+v) = %v, want %v", tc.self, tc.ep, got, tc.want)
		}
	}
}

// zoned builds a locality-aware cluster with nA endpoints in zone a, nB in
// zone b (same region) and nC in region other, as seen from zone a, with
// outlier detection that ejects on one 503 and a clock that stands still;
// round robin within tiers keeps the spread deterministic.
func zoned(t *testing.T, nA, nB, nC int, opts ...Option) *Cluster {
	t.Helper()
	var eps []EndpointConfig
	add := func(n int, region, zone string) {
		for i := 0; i < n; i++ {
			eps = append(eps, EndpointConfig{Address: fmt.Sprintf("127.0.0.1:%d", len(eps)+1), Region: region, Zone: zone})
		}
	}
	add(nA, "r", "a")
	add(nB, "r", "b")
	add(nC, "other", "c")
	cfg := Config{Name: "c", LB: LBRoundRobin, Endpoints: eps, Outlier: &breaker.OutlierConfig{
		Consecutive5xx: 1, Enforcing5xx: 100, BaseEjectionTime: time.Hour, MaxEjectionPercent: 100}}
	rng := rand.New(rand.NewPCG(1, 2))
	opts = append([]Option{WithLocality(Locality{Region: "r", Zone: "a"}), WithRand(rng.Uint64),
		WithClock(&fixedClock{time.Unix(1000, 0)})}, opts...)
	s, err := NewSet([]Config{cfg}, nil, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Retire(s, nil) })
	return s.Get("c")
}

func eject(c *Cluster, i int) {
	ep := c.Endpoints[i]
	ep.EndStatus(ep.Begin(), 503)
}

// shares picks n times and returns the share of picks per zone.
func shares(c *Cluster, n int) map[string]float64 {
	count := map[string]int{}
	for i := 0; i < n; i++ {
		count[c.Pick(0, false).Zone]++
	}
	out := map[string]float64{}
	for z, k := range count {
		out[z] = float64(k) / float64(n)
	}
	return out
}

func TestLocalityPrefersOwnZone(t *testing.T) {
	c := zoned(t, 2, 2, 2)
	if got := shares(c, 10_000); got["a"] != 1 {
		t.Fatalf("all healthy: shares %v, want everything in zone a", got)
	}
	if c.EndpointTier(0) != TierZone || c.EndpointTier(2) != TierRegion || c.EndpointTier(4) != TierRemote {
		t.Fatalf("tiers %v", c.tierOf)
	}
}

func TestLocalitySpillsDeficit(t *testing.T) {
	// 5 endpoints in zone a: 4 healthy is 80 % >= 71.4 %, so zone a keeps
	// everything; 3 healthy is 60 % * 1.4 = 84 %, so 16 % spills to zone b.
	c := zoned(t, 5, 2, 2)
	eject(c, 0)
	if got := shares(c, 10_000); got["a"] != 1 {
		t.Fatalf("4/5 healthy: shares %v, want all in zone a", got)
	}
	eject(c, 1)
	got := shares(c, 20_000)
	if got["a"] < 0.82 || got["a"] > 0.86 || got["b"] < 0.14 || got["b"] > 0.18 || got["c"] != 0 {
		t.Fatalf("3/5 healthy: shares %v, want a 84 %%, b 16 %%, c 0", got)
	}
	loads := c.TierLoads()
	if len(loads) != 3 || loads[0].Share != 8400 || loads[1].Share != 1600 || loads[2].Share != 0 {
		t.Fatalf("TierLoads %+v", loads)
	}
	// Picks in zone a never land on its ejected endpoints.
	for i := 0; i < 1000; i++ {
		if ep := c.Pick(0, false); ep == c.Endpoints[0] || ep == c.Endpoints[1] {
			t.Fatal("picked an ejected endpoint")
		}
	}
}

func TestLocalityFailsOverZoneThenRegion(t *testing.T) {
	c := zoned(t, 1, 1, 1)
	eject(c, 0)
	if got := shares(c, 5000); got["b"] != 1 {
		t.Fatalf("zone a down: shares %v, want all in zone b", got)
	}
	eject(c, 1)
	if got := shares(c, 5000); got["c"] != 1 {
		t.Fatalf("region down: shares %v, want all in the other region", got)
	}
	eject(c, 2)
	// Everything ejected: panic mode picks among all, as without tiers.
	if c.Pick(0, false) == nil {
		t.Fatal("all ejected: no endpoint picked")
	}
	if loads := c.TierLoads(); loads[0].Share+loads[1].Share+loads[2].Share != 0 {
		t.Fatalf("all ejected: TierLoads %+v, want no tier load", loads)
	}
}

func TestLocalityScalesWhenHealthFallsShort(t *testing.T) {
	// a: 1 of 2 healthy (health 70 %), b: 1 of 4 healthy (health 35 %):
	// a takes 70, b the remaining 30 (below its health of 35).
	c := zoned(t, 2, 4, 0)
	eject(c, 0)
	for i := 3; i < 6; i++ {
		eject(c, i)
	}
	loads := c.TierLoads()
	if loads[0].Share != 7000 || loads[1].Share != 3000 {
		t.Fatalf("TierLoads %+v, want 7000/3000", loads)
	}
	// a: 1 of 4 (35 %), b: 1 of 4 (35 %): the 70 % is scaled up to 100.
	c = zoned(t, 4, 4, 0)
	for _, i := range []int{0, 1, 2, 4, 5, 6} {
		eject(c, i)
	}
	loads = c.TierLoads()
	if loads[0].Share != 5000 || loads[1].Share != 5000 {
		t.Fatalf("TierLoads %+v, want 5000/5000", loads)
	}
}

func TestLocalityOffWithoutCallerLocality(t *testing.T) {
	c := zoned(t, 1, 1, 1, WithLocality(Locality{}))
	if c.TierLoads() != nil {
		t.Fatal("no caller locality must mean no tiers")
	}
	if got := shares(c, 6000); got["a"] < 0.25 || got["b"] < 0.25 || got["c"] < 0.25 {
		t.Fatalf("shares %v, want spread over all", got)
	}
	cfg := Config{Name: "c", NoLocality: true, Endpoints: []EndpointConfig{{Address: "127.0.0.1:1", Zone: "a"}, {Address: "127.0.0.1:2", Zone: "b"}}}
	s, err := NewSet([]Config{cfg}, nil, WithLocality(Locality{Zone: "a"}))
	if err != nil {
		t.Fatal(err)
	}
	defer Retire(s, nil)
	if s.Get("c").TierLoads() != nil {
		t.Fatal("NoLocality must mean no tiers")
	}
}

func TestLocalityPickAllocatesNothing(t *testing.T) {
	c := zoned(t, 2, 2, 2)
	eject(c, 0)
	if n := testing.AllocsPerRun(1000, func() { c.Pick(0, false) }); n != 0 {
		t.Fatalf("Pick allocates %v per call", n)
	}
}

// BenchmarkPickLocality is one pick over nine endpoints in three zones:
// no caller locality, locality-aware with all healthy, and with one of the
// caller's zone's three endpoints ejected (the tier loads are recomputed).
func BenchmarkPickLocality(b *testing.B) {
	for _, tc := range []struct {
		name  string
		self  Locality
		eject bool
	}{{"off", Locality{}, false}, {"tiers", Locality{Region: "r", Zone: "a"}, false}, {"tiers-ejected", Locality{Region: "r", Zone: "a"}, true}} {
		b.Run(tc.name, func(b *testing.B) {
			var eps []EndpointConfig
			for i, z := range []string{"a", "a", "a", "b", "b", "b", "c", "c", "c"} {
				eps = append(eps, EndpointConfig{Address: fmt.Sprintf("127.0.0.1:%d", i+1), Region: "r", Zone: z})
			}
			cfg := Config{Name: "c", Endpoints: eps, Outlier: &breaker.OutlierConfig{Consecutive5xx: 1, Enforcing5xx: 100, BaseEjectionTime: time.Hour, MaxEjectionPercent: 100}}
			s, err := NewSet([]Config{cfg}, nil, WithLocality(tc.self))
			if err != nil {
				b.Fatal(err)
			}
			defer Retire(s, nil)
			c := s.Get("c")
			if tc.eject {
				eject(c, 0)
			}
			b.ReportAllocs()
			for b.Loop() {
				c.Pick(0, false)
			}
		})
	}
}

package breaker

import (
	"testing"
	"time"
)

func detector(t *testing.T, cfg OutlierConfig, n int) (*Detector, []*Host, *fakeClock, *int) {
	t.Helper()
	clk := newFakeClock()
	hosts := make([]*Host, n)
	for i := range hosts {
		hosts[i] = &Host{}
	}
	ejections := 0
	return NewDetector(cfg, hosts, clk, func() { ejections++ }), hosts, clk, &ejections
}

func base() OutlierConfig {
	return OutlierConfig{
		Consecutive5xx: 5, Enforcing5xx: 100, Interval: 10 * time.Second,
		BaseEjectionTime: 30 * time.Second, MaxEjectionTime: 300 * time.Second, MaxEjectionPercent: 10,
	}
}

func TestConsecutive5xxEjectsAndReturns(t *testing.T) {
	d, hs, clk, n := detector(t, base(), 3)
	for i := 0; i < 4; i++ {
		d.Record(hs[0], Error5xx, clk.ns())
	}
	d.Record(hs[0], Success, clk.ns()) // a success breaks the run
	for i := 0; i < 4; i++ {
		d.Record(hs[0], Gateway, clk.ns())
	}
	if d.Ejected(hs[0], clk.ns()) {
		t.Fatal("ejected after a broken run")
	}
	d.Record(hs[0], Error5xx, clk.ns())
	if !d.Ejected(hs[0], clk.ns()) || *n != 1 {
		t.Fatalf("not ejected after 5 in a row (ejections %d)", *n)
	}
	if d.Ejected(hs[1], clk.ns()) {
		t.Fatal("healthy host ejected")
	}
	clk.Advance(30*time.Second - time.Millisecond)
	if !d.Ejected(hs[0], clk.ns()) {
		t.Fatal("returned before base ejection time")
	}
	clk.Advance(time.Millisecond)
	if d.Ejected(hs[0], clk.ns()) {
		t.Fatal("still ejected after base ejection time")
	}
}

func TestEjectionGrowsOnRepeatAndIsCapped(t *testing.T) {
	cfg := base()
	cfg.MaxEjectionTime = 70 * time.Second
	d, hs, clk, _ := detector(t, cfg, 2)
	want := []time.Duration{30 * time.Second, 60 * time.Second, 70 * time.Second}
	for i, w := range want {
		for j := 0; j < 5; j++ {
			d.Record(hs[0], Error5xx, clk.ns())
		}
		if got := hs[0].EjectedUntil().Sub(clk.Now()); got != w {
			t.Fatalf("ejection %d lasts %v, want %v", i+1, got, w)
		}
		clk.Advance(w)
	}
}

func TestMultiplierShrinksWhileHealthy(t *testing.T) {
	d, hs, clk, _ := detector(t, base(), 2)
	for j := 0; j < 5; j++ {
		d.Record(hs[0], Error5xx, clk.ns())
	}
	// Sweeps run from Record; after its time and two healthy intervals
	// the multiplier is back to zero, so the next ejection is base again.
	for i := 0; i < 6; i++ {
		clk.Advance(10 * time.Second)
		d.Record(hs[1], Success, clk.ns())
	}
	if hs[0].ejections.Load() != 0 {
		t.Fatalf("multiplier %d after healthy intervals", hs[0].ejections.Load())
	}
	for j := 0; j < 5; j++ {
		d.Record(hs[0], Error5xx, clk.ns())
	}
	if got := hs[0].EjectedUntil().Sub(clk.Now()); got != 30*time.Second {
		t.Fatalf("ejection lasts %v", got)
	}
}

func TestMaxEjectionPercentButAtLeastOne(t *testing.T) {
	d, hs, clk, n := detector(t, base(), 3) // 10 % of 3 hosts: still one
	for _, h := range hs[:2] {
		for j := 0; j < 5; j++ {
			d.Record(h, Error5xx, clk.ns())
		}
	}
	if !d.Ejected(hs[0], clk.ns()) || d.Ejected(hs[1], clk.ns()) || *n != 1 {
		t.Fatalf("want exactly the first host ejected; got %v %v (%d)", d.Ejected(hs[0], clk.ns()), d.Ejected(hs[1], clk.ns()), *n)
	}
	cfg := base()
	cfg.MaxEjectionPercent = 50
	d, hs, clk, n = detector(t, cfg, 4)
	for _, h := range hs[:3] {
		for j := 0; j < 5; j++ {
			d.Record(h, Gateway, clk.ns())
		}
	}
	if *n != 2 {
		t.Fatalf("50%% of 4 hosts: %d ejected, want 2", *n)
	}
}

func TestGatewayAndLocalOrigin(t *testing.T) {
	cfg := OutlierConfig{ConsecutiveGateway: 3, EnforcingGateway: 100, BaseEjectionTime: time.Second, MaxEjectionPercent: 100}
	d, hs, clk, _ := detector(t, cfg, 2)
	d.Record(hs[0], Gateway, clk.ns())
	d.Record(hs[0], Error5xx, clk.ns()) // a 500 breaks a gateway run
	d.Record(hs[0], Gateway, clk.ns())
	d.Record(hs[0], LocalOrigin, clk.ns()) // unsplit: counts as a gateway error
	if d.Ejected(hs[0], clk.ns()) {
		t.Fatal("ejected early")
	}
	d.Record(hs[0], Gateway, clk.ns())
	if !d.Ejected(hs[0], clk.ns()) {
		t.Fatal("not ejected after 3 gateway errors")
	}

	cfg = OutlierConfig{SplitLocalOrigin: true, ConsecutiveLocalOrigin: 2, EnforcingLocalOrigin: 100,
		ConsecutiveGateway: 2, EnforcingGateway: 100, BaseEjectionTime: time.Second, MaxEjectionPercent: 100}
	d, hs, clk, _ = detector(t, cfg, 2)
	d.Record(hs[0], Gateway, clk.ns())
	d.Record(hs[0], LocalOrigin, clk.ns()) // split: not a gateway error
	d.Record(hs[0], Success, clk.ns())
	d.Record(hs[0], LocalOrigin, clk.ns())
	if d.Ejected(hs[0], clk.ns()) {
		t.Fatal("split local failures counted as gateway errors")
	}
	d.Record(hs[0], LocalOrigin, clk.ns())
	if !d.Ejected(hs[0], clk.ns()) {
		t.Fatal("not ejected after 2 local-origin failures")
	}
}

func TestEnforcingZeroNeverEjects(t *testing.T) {
	cfg := base()
	cfg.Enforcing5xx = 0
	d, hs, clk, _ := detector(t, cfg, 2)
	for j := 0; j < 50; j++ {
		d.Record(hs[0], Error5xx, clk.ns())
	}
	if d.Ejected(hs[0], clk.ns()) {
		t.Fatal("enforcing 0 ejected")
	}
}

func TestSuccessRateOutlier(t *testing.T) {
	cfg := OutlierConfig{Interval: 10 * time.Second, BaseEjectionTime: 30 * time.Second, MaxEjectionPercent: 100,
		EnforcingSuccessRate: 100, SuccessRateMinimumHosts: 5, SuccessRateRequestVolume: 100, SuccessRateStdevFactor: 1900}
	d, hs, clk, _ := detector(t, cfg, 6)
	for i := 0; i < 100; i++ {
		for j, h := range hs {
			r := Success
			if j == 5 && i%2 == 0 { // one host fails half its requests, never 5 in a row
				r = Error5xx
			}
			d.Record(h, r, clk.ns())
		}
	}
	if d.Ejected(hs[5], clk.ns()) {
		t.Fatal("ejected before the interval ended")
	}
	clk.Advance(10 * time.Second)
	d.Record(hs[0], Success, clk.ns())
	if !d.Ejected(hs[5], clk.ns()) {
		t.Fatal("success-rate outlier not ejected")
	}
	for _, h := range hs[:5] {
		if d.Ejected(h, clk.ns()) {
			t.Fatal("healthy host ejected by success rate")
		}
	}
	// Too few hosts with enough volume: no verdict.
	cfg.SuccessRateMinimumHosts = 7
	d, hs, clk, _ = detector(t, cfg, 6)
	for i := 0; i < 100; i++ {
		for j, h := range hs {
			r := Success
			if j == 5 && i%2 == 0 {
				r = Error5xx
			}
			d.Record(h, r, clk.ns())
		}
	}
	clk.Advance(10 * time.Second)
	d.Record(hs[0], Success, clk.ns())
	if d.Ejected(hs[5], clk.ns()) {
		t.Fatal("ejected below the minimum host count")
	}
}

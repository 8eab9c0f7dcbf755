package sidecar

import (
	"testing"
	"time"
)

// Registration retries back off from the probe interval, doubling, to a
// cap with at most a quarter's jitter: a control plane that is down is
// not called every probe.
func TestRegisterBackoff(t *testing.T) {
	var d time.Duration
	var seen []time.Duration
	for range 12 {
		d = nextRegisterBackoff(d, 200*time.Millisecond)
		seen = append(seen, d)
	}
	if seen[0] < 200*time.Millisecond || seen[0] > 250*time.Millisecond {
		t.Errorf("first wait %v, want the probe interval plus at most 25 %%", seen[0])
	}
	if seen[2] < 800*time.Millisecond {
		t.Errorf("third wait %v, want doubled twice (>= 800ms)", seen[2])
	}
	if last := seen[len(seen)-1]; last < maxRegisterBackoff || last > maxRegisterBackoff*5/4 {
		t.Errorf("wait after many failures %v, want the %v cap plus at most 25 %%", last, maxRegisterBackoff)
	}
}

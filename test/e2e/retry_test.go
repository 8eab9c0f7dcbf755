package e2e

import (
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestAppKilledUnderLoadRetried: two catalog instances at a steady
// 200 requests/s; one app is SIGKILLed mid-run. With no retry config,
// the frontend's sidecar moves each request whose instance could not
// reach its app (flag UF from the peer sidecar, or a refused connection)
// to the other instance, so the client sees (almost) no error: at most
// 0.1 %. Before retries, the same kill gave about 20 × 502 in the 0.45 s
// before the probe took the instance out.
func TestAppKilledUnderLoadRetried(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMesh(t, c)
	svc := catalogMesh(1, 1)
	svc = svc[:strings.Index(svc, "---")] + `---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: catalog}
spec:
  targetRef: {name: catalog}
  loadBalancer: {type: ROUND_ROBIN}
`
	if out, ok := weft(t, c.api, svc, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	m.waitShare(t, "both versions serve", 0.2, 0.8)

	const (
		rate     = 200 // requests per second, all workers together
		workers  = 8
		duration = 8 * time.Second
		killAt   = 2 * time.Second
	)
	var okN, failN atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	begin := time.Now()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second * workers / rate)
			defer tick.Stop()
			for range tick.C {
				if time.Since(begin) > duration {
					return
				}
				if _, _, err := get(m.client, "http://catalog/items", nil); err != nil {
					failN.Add(1)
					firstErr.CompareAndSwap(nil, err)
				} else {
					okN.Add(1)
				}
			}
		}()
	}
	time.Sleep(killAt) // let the load run steadily before the kill: pacing, not synchronisation
	m.apps["v1"].cmd.Process.Kill()
	killed := time.Since(begin)
	m.apps["v1"].waitExit(t, 5*time.Second)
	wg.Wait()
	total := okN.Load() + failN.Load()
	t.Logf("%d requests in %v (%.0f/s), v1's app SIGKILLed at %v: %d failed (%.3f %%); first error: %v",
		total, time.Since(begin).Round(time.Millisecond), float64(total)/time.Since(begin).Seconds(), killed.Round(time.Millisecond),
		failN.Load(), 100*float64(failN.Load())/float64(total), firstErr.Load())
	if total < rate*int64(duration/time.Second)/2 {
		t.Fatalf("only %d requests sent; the load did not run", total)
	}
	if failN.Load()*1000 > total {
		t.Fatalf("%d of %d requests failed, want at most 0.1 %%", failN.Load(), total)
	}
}

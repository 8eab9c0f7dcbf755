package e2e

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// catalogFiltered is one rule to catalog with the given filters (YAML flow).
func catalogFiltered(filters string) string {
	return fmt.Sprintf(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - filters: [%s]
    backendRefs: [{name: catalog}]
`, filters)
}

// hit sends one GET through the frontend's sidecar: status, response
// flags, latency.
func hit(c *http.Client) (int, string, time.Duration, error) {
	began := time.Now()
	resp, err := c.Get("http://catalog/items")
	if err != nil {
		return 0, "", 0, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("X-Weft-Response-Flags"), time.Since(began), nil
}

// TestFaultAndRateLimit applies each filter through the CLI and measures
// it end to end (frontend sidecar -> catalog sidecar -> app), with the
// issue's numbers: 10 % abort injection gives 10 ± 2 % over 2,000
// requests, a 200 ms delay shows in the latency, and 100 requests/s hold
// within ±5 % against a client sending about 300/s for 3 s.
func TestFaultAndRateLimit(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMesh(t, c)
	apply := func(filters string) {
		t.Helper()
		if out, ok := weft(t, c.api, catalogFiltered(filters), "apply", "-f", "-"); !ok {
			t.Fatalf("apply %s: %s", filters, out)
		}
	}

	apply(`{type: Fault, fault: {abort: {httpStatus: 503, percent: 10}}}`)
	eventually(t, 30*time.Second, "abort injection in force", func() bool {
		code, flags, _, _ := hit(m.client)
		return code == 503 && flags == "FI"
	})
	const n = 2000
	aborted := 0
	for i := 0; i < n; i++ {
		code, flags, _, err := hit(m.client)
		switch {
		case err != nil:
			t.Fatal(err)
		case code == 503 && flags == "FI":
			aborted++
		case code != 200:
			t.Fatalf("status %d flags %q", code, flags)
		}
	}
	t.Logf("abort 10%%: %d of %d aborted", aborted, n)
	if aborted < n*8/100 || aborted > n*12/100 {
		t.Errorf("aborted %d of %d, want 10 ± 2 %%", aborted, n)
	}

	apply(`{type: Fault, fault: {delay: {fixedDelay: 200ms, percent: 100}}}`)
	eventually(t, 30*time.Second, "delay injection in force", func() bool {
		code, _, took, _ := hit(m.client)
		return code == 200 && took >= 200*time.Millisecond
	})
	var lat []time.Duration
	for i := 0; i < 10; i++ {
		code, _, took, err := hit(m.client)
		if err != nil || code != 200 {
			t.Fatalf("delayed request: %d %v", code, err)
		}
		lat = append(lat, took)
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	t.Logf("delay 200ms: latency min %v median %v max %v", lat[0], lat[5], lat[9])
	if lat[0] < 200*time.Millisecond || lat[5] > 400*time.Millisecond {
		t.Errorf("latency min %v median %v, want every one >= 200ms and the median near it", lat[0], lat[5])
	}

	// A burst of 30 (300ms of tokens) rides out the scheduling stalls of a
	// loaded machine, where a smaller bucket would lose tokens while no
	// request arrives and undercount the rate.
	apply(`{type: RateLimit, rateLimit: {requestsPerSecond: 100, burst: 30}}`)
	eventually(t, 30*time.Second, "rate limit in force", func() bool {
		for i := 0; i < 60; i++ { // more than the bucket holds
			if code, flags, _, _ := hit(m.client); code == 429 && flags == "RL" {
				return true
			}
		}
		return false
	})
	// Six workers, each paced at one request per 20ms and staggered so
	// the load is even: about 300/s. The bucket starts nearly empty (the
	// probe above drained it), so the run admits 100/s plus 0 to 30.
	var passed, limited, other atomic.Int64
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sends []time.Time
	began := time.Now()
	end := began.Add(3 * time.Second)
	for w := 0; w < 6; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next := began.Add(time.Duration(w) * 20 * time.Millisecond / 6); next.Before(end); next = next.Add(20 * time.Millisecond) {
				time.Sleep(time.Until(next)) // pacing the load, not synchronisation
				code, _, took, err := hit(m.client)
				mu.Lock()
				sends = append(sends, time.Now().Add(-took))
				mu.Unlock()
				switch {
				case err == nil && code == 200:
					passed.Add(1)
				case err == nil && code == 429:
					limited.Add(1)
				default:
					other.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	secs := time.Since(began).Seconds()
	sort.Slice(sends, func(a, b int) bool { return sends[a].Before(sends[b]) })
	var maxGap time.Duration
	for i := 1; i < len(sends); i++ {
		maxGap = max(maxGap, sends[i].Sub(sends[i-1]))
	}
	// The limit admits 100/s; what the probe left in the bucket adds 0 to
	// the burst of 30: the passes must fall in [rate, rate + burst], ± 5 %.
	lo, hi := 100*secs, 100*secs+30
	want := (lo + hi) / 2
	t.Logf("rate limit 100/s: %d passed, %d limited, %d other in %.2fs (want %.0f passed); longest pause between requests %v",
		passed.Load(), limited.Load(), other.Load(), secs, want, maxGap)
	if other.Load() > 0 {
		t.Errorf("%d requests neither passed nor limited", other.Load())
	}
	if sent := passed.Load() + limited.Load(); float64(sent) < 2*want {
		t.Fatalf("client sent only %d requests in %.2fs: too few to test a limit", sent, secs)
	}
	if got := float64(passed.Load()); got < lo*0.95 || got > hi*1.05 {
		t.Errorf("passed %.0f, want %.0f to %.0f (100/s plus what was left of the burst) ± 5 %%", got, lo, hi)
	}
}

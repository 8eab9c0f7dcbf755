package e2e

import (
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// catalogPolicy is the catalog Service with subsets v1 (instance c1) and
// v2 (instance c2), one HTTPRoute rule (YAML of its fields) and a
// TrafficPolicy spec (YAML of its fields, "{}" for none).
func catalogPolicy(rule, policy string) string {
	return fmt.Sprintf(`apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  subsets: [{name: v1, labels: {instance: c1}}, {name: v2, labels: {instance: c2}}]
---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{name: catalog}]
  rules: [%s]
---
apiVersion: weft.dev/v1alpha1
kind: TrafficPolicy
metadata: {name: catalog}
spec:
  targetRef: {name: catalog}
  connectionPool: {maxIdle: 64}
  %s
`, rule, policy)
}

// burst sends n requests from workers goroutines as fast as they go and
// returns the statuses and flags seen, by "STATUS FLAGS".
func burst(m *zonedMesh, n, workers int) map[string]int {
	var mu sync.Mutex
	out := map[string]int{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				code, flags, _, err := hit(m.client)
				k := fmt.Sprintf("%d %s", code, flags)
				if err != nil {
					k = "error"
				}
				mu.Lock()
				out[k]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

func (m *zonedMesh) resetServed() {
	for _, a := range m.apps {
		a.served.Store(0)
	}
}

// TestResilienceNumbers measures the resilience figures on one
// mesh (three catalog instances c1, c2, c3 behind their sidecars, and a
// frontend), applying each policy through the CLI in turn: a 90/10 split
// within ±3 % over 2,000 requests; a 300 ms request timeout tripped by a
// slow instance within ±10 %; the breaker's overflow answered in under
// 10 ms; and a retry storm against a service that fails every request
// held within the retry budget. Tolerances are from counts; the timings
// are medians, so one stall of a loaded machine does not decide them.
func TestResilienceNumbers(t *testing.T) {
	m := startZonedMesh(t, map[string]string{"c1": "", "c2": "", "c3": ""}, "", "")
	cp := m.api
	apply := func(doc string) {
		t.Helper()
		if out, ok := weft(t, cp, doc, "apply", "-f", "-"); !ok {
			t.Fatalf("apply: %s", out)
		}
	}

	t.Run("90/10 split within 3 % over 2000 requests", func(t *testing.T) {
		apply(catalogPolicy(`{backendRefs: [{name: catalog, subset: v1, weight: 90}, {name: catalog, subset: v2, weight: 10}]}`, ""))
		eventually(t, 20*time.Second, "the split in force (c3 gets nothing)", func() bool {
			m.resetServed()
			burst(m, 50, 4)
			return m.apps["c3"].served.Load() == 0 && m.apps["c2"].served.Load() > 0
		})
		m.resetServed()
		const n = 2000
		got := burst(m, n, 8)
		v1, v2 := m.apps["c1"].served.Load(), m.apps["c2"].served.Load()
		share := 100 * float64(v1) / float64(v1+v2)
		t.Logf("90/10 split: %d requests, answers %v; v1 served %d, v2 %d: v1 share %.2f %%", n, got, v1, v2, share)
		if got["200 "] != n || v1+v2 != n {
			t.Fatalf("answers %v, v1+v2 = %d; want %d × 200", got, v1+v2, n)
		}
		if share < 87 || share > 93 {
			t.Fatalf("v1 share %.2f %%, want 90 ± 3 %%", share)
		}
	})

	t.Run("slow instance trips a 300ms timeout within 10 %", func(t *testing.T) {
		const timeout = 300 * time.Millisecond
		m.apps["c1"].delay.Store(int64(3 * time.Second))
		defer m.apps["c1"].delay.Store(0)
		apply(catalogPolicy(`{backendRefs: [{name: catalog, subset: v1}], timeouts: {request: 300ms}}`, ""))
		eventually(t, 20*time.Second, "the timeout in force", func() bool {
			code, flags, _, _ := hit(m.client)
			return code == 504 && flags == "UT"
		})
		var took []time.Duration
		for i := 0; i < 10; i++ {
			code, flags, d, err := hit(m.client)
			if err != nil || code != 504 || flags != "UT" {
				t.Fatalf("answer %d %q %v, want 504 UT", code, flags, err)
			}
			took = append(took, d)
		}
		sort.Slice(took, func(a, b int) bool { return took[a] < took[b] })
		med := took[len(took)/2]
		t.Logf("timeout %v: 10 × 504 UT after min %v median %v max %v", timeout, took[0], med, took[len(took)-1])
		if took[0] < timeout*9/10 || med > timeout*11/10 {
			t.Fatalf("min %v median %v, want within %v ± 10 %%", took[0], med, timeout)
		}
	})

	t.Run("breaker rejects overflow in under 10ms", func(t *testing.T) {
		const held = 4
		for _, a := range m.apps {
			a.delay.Store(int64(2 * time.Second))
		}
		defer func() {
			for _, a := range m.apps {
				a.delay.Store(0)
			}
		}()
		apply(catalogPolicy(`{backendRefs: [{name: catalog}]}`, fmt.Sprintf("circuitBreaker: {maxRequests: %d}", held)))
		var took []time.Duration
		eventually(t, 30*time.Second, "overflow answered 503 UO", func() bool {
			m.resetServed()
			var wg sync.WaitGroup
			for i := 0; i < held; i++ {
				wg.Add(1)
				go func() { defer wg.Done(); hit(m.client) }()
			}
			defer wg.Wait()
			// The held requests are at the apps (in the breaker) before
			// the probes go.
			eventually(t, 2*time.Second, "held requests at the apps", func() bool {
				var n int64
				for _, a := range m.apps {
					n += a.served.Load()
				}
				return n >= held
			})
			took = took[:0]
			for i := 0; i < 20; i++ {
				code, flags, d, err := hit(m.client)
				if err != nil || code != 503 || flags != "UO" {
					return false
				}
				took = append(took, d)
			}
			return true
		})
		sort.Slice(took, func(a, b int) bool { return took[a] < took[b] })
		med := took[len(took)/2]
		t.Logf("breaker maxRequests %d: 20 overflow answers 503 UO, min %v median %v max %v", held, took[0], med, took[len(took)-1])
		if med >= 10*time.Millisecond {
			t.Fatalf("overflow median %v, want under 10ms", med)
		}
	})

	t.Run("retry storm against a failing service stays within the budget", func(t *testing.T) {
		for _, a := range m.apps {
			a.status.Store(503)
		}
		defer func() {
			for _, a := range m.apps {
				a.status.Store(0)
			}
		}()
		apply(catalogPolicy(`{backendRefs: [{name: catalog}]}`, "retries: {attempts: 3, retryOn: [5xx], backoff: 1ms, maxBackoff: 2ms}"))
		eventually(t, 20*time.Second, "retries in force", func() bool {
			m.resetServed()
			code, _, _, _ := hit(m.client)
			var n int64
			for _, a := range m.apps {
				n += a.served.Load()
			}
			return code == 503 && n > 1
		})
		// The budget's window (10 s) has seen the probes above; let the
		// storm count against what they left.
		m.resetServed()
		const n = 1000
		began := time.Now()
		got := burst(m, n, 8)
		elapsed := time.Since(began)
		var attempts int64
		for _, a := range m.apps {
			attempts += a.served.Load()
		}
		retries := attempts - n
		// Linkerd's budget: 20 % of the window's requests plus 10/s over
		// the 10 s window (100), whatever the policy's attempts allow
		// (3 × 1000 here).
		// The budget's counts are estimates (a racing count at a slot's
		// turn is lost) and the probes above count as requests too: 2 %
		// of slack.
		limit := int64(n*20/100+100) + n/50
		t.Logf("retry storm: %d requests in %v (answers %v) made %d upstream attempts: %d retries, budget %d, policy alone %d",
			n, elapsed.Round(time.Millisecond), got, attempts, retries, limit, 3*n)
		if got["503 "]+got["503 URX"] != n {
			t.Fatalf("answers %v, want every one 503", got)
		}
		if retries > limit || retries < n/10 {
			t.Fatalf("%d retries for %d requests, want some and at most the budget's %d", retries, n, limit)
		}
	})
}

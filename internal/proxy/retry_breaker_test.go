package proxy

import (
	"io"
	"net/http"
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/retry"
)

// The breaker's maxRetries caps requests retrying at once: with the cap
// taken, a failed try is answered as it is instead of retried; once the
// cap is free the same failure is retried, and the unit is given back.
func TestRetryGatedByBreakerMaxRetries(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"http1", "http2"} {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			// The first two tries fail: each request's first try gets 503.
			up, hits := countingUpstream(t, func(n int64, _ *http.Request) int {
				if n < 2 {
					return 503
				}
				return 200
			})
			rt := retryRuntime(t, []string{up}, &retry.Policy{On: retry.GatewayError, Attempts: 2}, retry.BudgetConfig{})
			cl := rt.Load().Clusters.Get("up")
			cl.Breaker.SetLimits(breaker.Limits{MaxRetries: 1})
			var c *http.Client
			if engine == "http1" {
				addr, _ := startRetryProxy(t, rt)
				c = proxyClient(addr)
			} else {
				addr := h2Proxy(t, rt)
				c = h2cClient()
				c.Transport.(*http.Transport).DialContext = proxyClient(addr).Transport.(*http.Transport).DialContext
			}
			get := func() int {
				t.Helper()
				resp, err := c.Get("http://svc/x")
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				return resp.StatusCode
			}

			if !cl.Breaker.Acquire(breaker.Retries) { // another request retrying
				t.Fatal("breaker refused the first retry unit")
			}
			if code := get(); code != 503 || hits.Load() != 1 {
				t.Fatalf("with the retry cap taken: status %d after %d tries, want 503 after 1", code, hits.Load())
			}
			if cl.Breaker.Overflows(breaker.Retries) != 1 {
				t.Fatalf("retry overflows = %d, want 1", cl.Breaker.Overflows(breaker.Retries))
			}
			cl.Breaker.Release(breaker.Retries)

			if code := get(); code != 200 || hits.Load() != 3 {
				t.Fatalf("with the retry cap free: status %d after %d tries in all, want 200 after 3", code, hits.Load())
			}
			if n := cl.Breaker.Active(breaker.Retries); n != 0 {
				t.Fatalf("retry units held after the request = %d, want 0", n)
			}
		})
	}
}

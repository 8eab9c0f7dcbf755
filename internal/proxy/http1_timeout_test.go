package proxy

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// A route timeout far below the engine's limits fires on time against a
// slow upstream: the sweeper ticks at a twentieth of the shortest route
// timeout, not only at a quarter of the limits (which put a 300ms
// timeout at 1s with the default 15s request timeout).
func TestHTTP1RouteTimeoutOnTime(t *testing.T) {
	const timeout = 100 * time.Millisecond
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(up.Close)
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", RequestTimeout: 15 * time.Second,
		Runtime: filteredRuntime(t, up.Listener.Addr().String(), cluster.HTTP1, func(r *route.Route) { r.Timeout = timeout })})
	addr := serveEngine(t, h)
	c := &http.Client{Timeout: 5 * time.Second}
	for i := 0; i < 3; i++ {
		resp, took := get(t, c, addr)
		if resp.StatusCode != 504 || took < timeout || took > timeout*3/2 {
			t.Fatalf("status %d in %v, want 504 at the %v timeout (+50 %% at most)", resp.StatusCode, took, timeout)
		}
	}
}

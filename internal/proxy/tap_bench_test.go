package proxy

import (
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// BenchmarkHTTP1ProxyTap is BenchmarkHTTP1Proxy with a tap hub: idle (no
// session: one atomic load per request, allocs/op must stay 0), and a
// session open whose filter takes every request (the event is built and
// copied to the session, which allocates; a reader drains it).
func BenchmarkHTTP1ProxyTap(b *testing.B) {
	for _, tapping := range []bool{false, true} {
		name := "idle"
		if tapping {
			name = "tapping"
		}
		b.Run(name, func(b *testing.B) {
			up := rawUpstream(b)
			var hub tap.Hub
			if tapping {
				s, err := hub.Open(tap.Options{Rate: tap.MaxRate})
				if err != nil {
					b.Fatal(err)
				}
				done := make(chan struct{})
				go func() {
					for {
						select {
						case <-s.Events():
						case <-done:
							return
						}
					}
				}()
				b.Cleanup(func() { close(done); s.Close() })
			}
			cfg := HTTP1Config{Name: "bench", Direction: "outbound", Runtime: newRuntime(&testing.T{}, up, cluster.HTTP1, 0), Tap: &hub}
			benchEngine(b, serveEngine(&testing.T{}, NewHTTP1(cfg)))
		})
	}
}

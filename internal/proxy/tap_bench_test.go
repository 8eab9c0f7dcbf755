package proxy

import (
	"syscall"
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// BenchmarkHTTP1ProxyTap is BenchmarkHTTP1Proxy with no tap hub (the
// baseline), an idle hub (no session: one atomic load per request;
// allocs/op must stay 0), and a session whose filter takes every request
// (the event is built and copied to the session, which allocates; a
// reader drains it). cpu-ns/op is the process's CPU per request (client,
// proxy and upstream), as in BenchmarkHTTP1ProxyMetrics.
func BenchmarkHTTP1ProxyTap(b *testing.B) {
	for _, mode := range []string{"no-hub", "idle", "tapping"} {
		b.Run(mode, func(b *testing.B) {
			up := rawUpstream(b)
			var hub tap.Hub
			if mode == "tapping" {
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
			cfg := HTTP1Config{Name: "bench", Direction: "outbound", Runtime: newRuntime(&testing.T{}, up, cluster.HTTP1, 0)}
			if mode != "no-hub" {
				cfg.Tap = &hub
			}
			addr := serveEngine(&testing.T{}, NewHTTP1(cfg))
			var before, after syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			benchEngine(b, addr)
			b.StopTimer()
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(before.Utime) +
				syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(before.Stime)
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

package proxy

import (
	"syscall"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// BenchmarkHTTP1ProxyMetrics is BenchmarkHTTP1Proxy with request metrics
// off and on (Istio's labels, this sidecar's workload, the peer header
// written): allocs/op must stay 0, and cpu-ns/op (the process's user+system
// CPU per request: client, proxy and upstream together) says what
// recording costs.
func BenchmarkHTTP1ProxyMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		b.Run(name, func(b *testing.B) {
			up := rawUpstream(b)
			cfg := HTTP1Config{Name: "bench", Direction: "outbound", Runtime: newRuntime(&testing.T{}, up, cluster.HTTP1, 0)}
			if on {
				cfg.Metrics = telemetry.NewProxyMetrics(prometheus.NewRegistry())
				cfg.Self = NewSelf(telemetry.Workload{Name: "web", Namespace: "default", App: "web", Version: "v1"},
					telemetry.Service{Host: "web.default", Name: "web", Namespace: "default"})
			}
			addr := serveEngine(&testing.T{}, NewHTTP1(cfg))
			var before syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &before)
			benchEngine(b, addr)
			b.StopTimer()
			var after syscall.Rusage
			syscall.Getrusage(syscall.RUSAGE_SELF, &after)
			cpu := syscall.TimevalToNsec(after.Utime) - syscall.TimevalToNsec(before.Utime) +
				syscall.TimevalToNsec(after.Stime) - syscall.TimevalToNsec(before.Stime)
			b.ReportMetric(float64(cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

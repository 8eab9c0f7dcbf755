package proxy

import (
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// BenchmarkHTTP1ProxyTracing is BenchmarkHTTP1Proxy with a tracer: off
// (no tracer), on with no request sampled (context read, new trace ids,
// traceparent written), 1 % sampled (the cost target), and
// every request sampled (two spans handed to a sink per request).
func BenchmarkHTTP1ProxyTracing(b *testing.B) {
	for _, tc := range []struct {
		name  string
		share float64
		off   bool
	}{{"off", 0, true}, {"unsampled", 0, false}, {"sampled-1pct", 0.01, false}, {"sampled-all", 1, false}} {
		b.Run(tc.name, func(b *testing.B) {
			up := rawUpstream(b)
			cfg := HTTP1Config{Name: "bench", Direction: "outbound", Runtime: newRuntime(&testing.T{}, up, cluster.HTTP1, 0)}
			if !tc.off {
				cfg.Tracer = tracing.New(tc.share, discardSink{})
			}
			benchEngine(b, serveEngine(&testing.T{}, NewHTTP1(cfg)))
		})
	}
}

type discardSink struct{}

func (discardSink) Export(*tracing.Span) {}

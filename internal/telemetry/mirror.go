package telemetry

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// mirrorMetrics counts request copies by result: sent, dropped, failed.
type mirrorMetrics struct {
	sent, dropped, failed atomic.Uint64
}

var descMirror = prometheus.NewDesc("weft_proxy_mirror_requests_total",
	"Request copies for RequestMirror filters, by result: sent (a response came back, discarded), dropped (not sent: the cluster's in-flight bound reached, the body over 64 KiB, or no such cluster), failed (no response: connect failure, reset or timeout).",
	[]string{"result"}, nil)

// Mirror counts one request copy with its result ("sent", "dropped" or
// "failed"; anything else counts as failed).
func (m *ProxyMetrics) Mirror(result string) {
	if m == nil {
		return
	}
	switch result {
	case "sent":
		m.mirror.sent.Add(1)
	case "dropped":
		m.mirror.dropped.Add(1)
	default:
		m.mirror.failed.Add(1)
	}
}

// Mirrors returns the copies counted with result, for tests.
func (m *ProxyMetrics) Mirrors(result string) uint64 {
	if m == nil {
		return 0
	}
	switch result {
	case "sent":
		return m.mirror.sent.Load()
	case "dropped":
		return m.mirror.dropped.Load()
	}
	return m.mirror.failed.Load()
}

type mirrorCollector struct{ m *mirrorMetrics }

func (c mirrorCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descMirror }

func (c mirrorCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range []struct {
		name string
		v    *atomic.Uint64
	}{{"sent", &c.m.sent}, {"dropped", &c.m.dropped}, {"failed", &c.m.failed}} {
		ch <- prometheus.MustNewConstMetric(descMirror, prometheus.CounterValue, float64(r.v.Load()), r.name)
	}
}

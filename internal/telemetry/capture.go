package telemetry

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var descCaptured = prometheus.NewDesc("weft_proxy_capture_connections_total",
	"Connections the transparent-capture listener accepted, by outcome: mesh (a service's virtual IP), passthrough (tunnelled to the original destination), loop (addressed to the capture listener itself: refused), no_original_dst (not redirected: refused).",
	[]string{"outcome"}, nil)

// Captured counts one connection of the capture listener by outcome.
func (m *ProxyMetrics) Captured(outcome string) {
	if m == nil {
		return
	}
	counter(&m.captured, outcome).Add(1)
}

type captureCollector struct{ m *ProxyMetrics }

func (c captureCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descCaptured }

func (c captureCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.captured.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(descCaptured, prometheus.CounterValue, float64(v.(*atomic.Uint64).Load()), k.(string))
		return true
	})
}

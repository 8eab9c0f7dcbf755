package telemetry

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	descOverflow = prometheus.NewDesc("weft_proxy_overflow_total",
		"Requests refused by a cluster's circuit breaker, by cluster and the cap that overflowed (connections, pending, requests, retries).",
		[]string{"cluster", "kind"}, nil)
	descEjections = prometheus.NewDesc("weft_proxy_outlier_ejections_total",
		"Endpoints ejected by outlier detection, by cluster.", []string{"cluster"}, nil)
)

type overflowKey struct{ cluster, kind string }

func counter(m *sync.Map, k any) *atomic.Uint64 {
	v, ok := m.Load(k)
	if !ok {
		v, _ = m.LoadOrStore(k, new(atomic.Uint64))
	}
	return v.(*atomic.Uint64)
}

// Overflow counts one request refused by cluster's breaker; kind names
// the cap (connections, pending, requests, retries).
func (m *ProxyMetrics) Overflow(cluster, kind string) {
	if m == nil {
		return
	}
	counter(&m.overflows, overflowKey{cluster, kind}).Add(1)
}

// Ejected counts one outlier ejection in cluster.
func (m *ProxyMetrics) Ejected(cluster string) {
	if m == nil {
		return
	}
	counter(&m.ejections, cluster).Add(1)
}

type resilienceCollector struct{ m *ProxyMetrics }

func (c *resilienceCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descOverflow
	ch <- descEjections
}

func (c *resilienceCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.overflows.Range(func(k, v any) bool {
		key := k.(overflowKey)
		ch <- prometheus.MustNewConstMetric(descOverflow, prometheus.CounterValue, float64(v.(*atomic.Uint64).Load()), key.cluster, key.kind)
		return true
	})
	c.m.ejections.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(descEjections, prometheus.CounterValue, float64(v.(*atomic.Uint64).Load()), k.(string))
		return true
	})
}

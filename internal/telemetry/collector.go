package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descActive = prometheus.NewDesc("weft_proxy_active_connections",
		"Downstream connections open now, by listener.", []string{"listener"}, nil)
	descConns = prometheus.NewDesc("weft_proxy_connections_total",
		"Downstream connections accepted, by listener.", []string{"listener"}, nil)
	descRejected = prometheus.NewDesc("weft_proxy_connection_limit_reached_total",
		"Times a listener hit its connection cap and paused accepting.", []string{"listener"}, nil)
	descSniff = prometheus.NewDesc("weft_proxy_sniff_fallback_total",
		"Connections of an auto port forwarded as opaque TCP: first bytes not HTTP, or silent on a server-first port.", []string{"listener"}, nil)
)

// proxyCollector exposes ProxyMetrics' atomic series at scrape time, so the
// request path never touches client_golang.
type proxyCollector struct{ m *ProxyMetrics }

func (c *proxyCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descActive, descConns, descRejected, descSniff} {
		ch <- d
	}
}

func (c *proxyCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.conns.Range(func(k, v any) bool {
		name, s := k.(string), v.(*connSeries)
		ch <- prometheus.MustNewConstMetric(descActive, prometheus.GaugeValue, float64(s.active.Load()), name)
		ch <- prometheus.MustNewConstMetric(descConns, prometheus.CounterValue, float64(s.total.Load()), name)
		ch <- prometheus.MustNewConstMetric(descRejected, prometheus.CounterValue, float64(s.rejected.Load()), name)
		ch <- prometheus.MustNewConstMetric(descSniff, prometheus.CounterValue, float64(s.sniffFallback.Load()), name)
		return true
	})
}

// PoolStat is one upstream endpoint's connection pool, for /metrics.
type PoolStat struct {
	Service, Endpoint string
	Open, Idle        int
}

var (
	descPoolOpen = prometheus.NewDesc("weft_proxy_upstream_connections",
		"Upstream connections open, by service and endpoint.", []string{"service", "endpoint"}, nil)
	descPoolIdle = prometheus.NewDesc("weft_proxy_upstream_idle_connections",
		"Upstream connections idle in the pool, by service and endpoint.", []string{"service", "endpoint"}, nil)
)

// RegisterPoolStats exposes pool state read from f at scrape time, so
// telemetry needs no import of the proxy.
func RegisterPoolStats(reg prometheus.Registerer, f func() []PoolStat) {
	reg.MustRegister(poolCollector(f))
}

type poolCollector func() []PoolStat

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descPoolOpen
	ch <- descPoolIdle
}

func (f poolCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range f() {
		ch <- prometheus.MustNewConstMetric(descPoolOpen, prometheus.GaugeValue, float64(s.Open), s.Service, s.Endpoint)
		ch <- prometheus.MustNewConstMetric(descPoolIdle, prometheus.GaugeValue, float64(s.Idle), s.Service, s.Endpoint)
	}
}

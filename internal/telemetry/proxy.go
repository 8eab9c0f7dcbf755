// Package telemetry holds the data plane's and control plane's metrics in
// Prometheus form. The hot path only does atomic adds on series it finds
// without allocating; exposition goes through client_golang.
package telemetry

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// ProxyMetrics records data-plane metrics. A nil *ProxyMetrics is valid and
// records nothing, so tests and benchmarks may pass nil.
type ProxyMetrics struct {
	istio  *istioMetrics
	conns  sync.Map // listener -> *connSeries
	retry  retryMetrics
	mirror mirrorMetrics
	// resilience: overflowKey -> *atomic.Uint64, cluster -> *atomic.Uint64
	overflows, ejections sync.Map
	captured             sync.Map    // capture outcome -> *atomic.Uint64
	authz                authzCounts // weft_authz_denied_total
}

type connSeries struct {
	active, total, rejected, sniffFallback atomic.Int64
}

// NewProxyMetrics returns metrics with the default options, registered on reg.
func NewProxyMetrics(reg prometheus.Registerer) *ProxyMetrics {
	return NewProxyMetricsWith(reg, MetricsOptions{})
}

// NewProxyMetricsWith returns metrics registered on reg; opts must have
// passed Validate.
func NewProxyMetricsWith(reg prometheus.Registerer, opts MetricsOptions) *ProxyMetrics {
	m := &ProxyMetrics{istio: newIstioMetrics(opts)}
	reg.MustRegister(&proxyCollector{m: m}, newIstioCollector(m.istio), retryCollector{&m.retry}, &resilienceCollector{m: m}, captureCollector{m}, mirrorCollector{&m.mirror}, authzCollector{&m.authz})
	return m
}

// ObserveRequest records one finished request. r is read, not kept: the
// engines reuse theirs.
func (m *ProxyMetrics) ObserveRequest(r *Request) {
	if m == nil {
		return
	}
	m.istio.request(r)
}

// TCPOpened counts one TCP connection opening and returns its series, for
// its bytes and its close.
func (m *ProxyMetrics) TCPOpened(c *Conn) TCPSeries {
	if m == nil {
		return TCPSeries{}
	}
	return m.istio.tcpOpened(c)
}

func (m *ProxyMetrics) conn(listener string) *connSeries {
	v, ok := m.conns.Load(listener)
	if !ok {
		v, _ = m.conns.LoadOrStore(listener, &connSeries{})
	}
	return v.(*connSeries)
}

// ConnOpened and ConnClosed track active downstream connections per listener.
func (m *ProxyMetrics) ConnOpened(listener string) {
	if m == nil {
		return
	}
	c := m.conn(listener)
	c.active.Add(1)
	c.total.Add(1)
}

// ConnClosed marks the end of a connection counted by ConnOpened.
func (m *ProxyMetrics) ConnClosed(listener string) {
	if m == nil {
		return
	}
	m.conn(listener).active.Add(-1)
}

// ConnRejected counts times a listener reached its connection cap and
// paused accepting.
func (m *ProxyMetrics) ConnRejected(listener string) {
	if m == nil {
		return
	}
	m.conn(listener).rejected.Add(1)
}

// SniffFallback counts connections of an auto port forwarded as opaque TCP:
// first bytes that are not HTTP, or silence on a server-first port.
func (m *ProxyMetrics) SniffFallback(listener string) {
	if m == nil {
		return
	}
	m.conn(listener).sniffFallback.Add(1)
}

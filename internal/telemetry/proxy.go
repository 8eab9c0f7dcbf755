// Package telemetry holds the data plane's and control plane's metrics in
// Prometheus form. The hot path only does atomic adds on series it finds
// without allocating; exposition goes through client_golang.
package telemetry

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// ProxyMetrics records data-plane metrics. A nil *ProxyMetrics is valid and
// records nothing, so tests and benchmarks may pass nil.
type ProxyMetrics struct {
	requests sync.Map // reqKey -> *reqSeries
	conns    sync.Map // listener -> *connSeries
	retry    retryMetrics
	// resilience: overflowKey -> *atomic.Uint64, cluster -> *atomic.Uint64
	overflows, ejections sync.Map
	authz                authzCounts // weft_authz_denied_total
}

type reqKey struct {
	direction, service, route string
	class                     uint8 // 0 = no status (connection failed), 1..5 = 1xx..5xx
	flag                      Flag
}

// latencyBuckets are upper bounds in seconds, from 100 µs to 30 s.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

type reqSeries struct {
	count   atomic.Uint64
	sumNs   atomic.Uint64
	buckets [len17]atomic.Uint64
}

const len17 = 17

type connSeries struct {
	active, total, rejected, sniffFallback atomic.Int64
}

// NewProxyMetrics returns metrics registered on reg.
func NewProxyMetrics(reg prometheus.Registerer) *ProxyMetrics {
	m := &ProxyMetrics{}
	reg.MustRegister(&proxyCollector{m: m}, retryCollector{&m.retry}, &resilienceCollector{m: m}, authzCollector{&m.authz})
	return m
}

// ObserveRequest records one finished request. direction is "inbound" or
// "outbound"; service is the upstream cluster ("" if none); route is the
// route name ("" if none matched); code is the status sent downstream;
// flag is why the mesh made or ended the response (FlagNone when the
// upstream answered).
func (m *ProxyMetrics) ObserveRequest(direction, service, route string, code int, flag Flag, d time.Duration) {
	if m == nil {
		return
	}
	if flag >= NumFlags {
		flag = FlagNone // keeps the label's values to the closed vocabulary
	}
	k := reqKey{direction, service, route, uint8(min(max(code/100, 0), 5)), flag}
	v, ok := m.requests.Load(k)
	if !ok {
		v, _ = m.requests.LoadOrStore(k, &reqSeries{})
	}
	s := v.(*reqSeries)
	s.count.Add(1)
	s.sumNs.Add(uint64(max(d, 0)))
	sec := d.Seconds()
	for i, ub := range latencyBuckets {
		if sec <= ub {
			s.buckets[i].Add(1)
			break
		}
	}
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

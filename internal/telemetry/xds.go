package telemetry

import (
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// XDSMetrics is the sidecar's view of its control-plane stream: connected
// or not, when it last applied a config, which version, and how many
// pushes it refused. It implements the xDS client's Observer.
type XDSMetrics struct {
	connected atomic.Int32
	lastApply atomic.Int64 // unix ns; 0 = never
	mu        sync.Mutex
	version   string
	nacks     sync.Map // short type name -> *atomic.Uint64
}

var (
	descXDSConnected = prometheus.NewDesc("weft_xds_connected",
		"1 while a stream to a control-plane replica is open, else 0 (the sidecar then serves its last accepted config).", nil, nil)
	descXDSLastUpdate = prometheus.NewDesc("weft_xds_last_update_timestamp_seconds",
		"Unix time the last control-plane config was applied; 0 before the first.", nil, nil)
	descXDSVersion = prometheus.NewDesc("weft_xds_config_info",
		"The applied control-plane config's version_info, as a label; the value is always 1.", []string{"version"}, nil)
	descXDSNacks = prometheus.NewDesc("weft_xds_nacks_total",
		"Control-plane pushes this sidecar rejected (malformed, or refused when applied), by resource type.", []string{"type"}, nil)
)

// NewXDSMetrics returns xDS metrics registered on reg.
func NewXDSMetrics(reg prometheus.Registerer) *XDSMetrics {
	m := &XDSMetrics{}
	reg.MustRegister(m)
	return m
}

// StreamUp marks a stream open.
func (m *XDSMetrics) StreamUp(string) { m.connected.Store(1) }

// StreamDown marks the stream closed.
func (m *XDSMetrics) StreamDown(string) { m.connected.Store(0) }

// Nacked counts one rejected push of typeURL.
func (m *XDSMetrics) Nacked(typeURL string) {
	short := typeURL[strings.LastIndexByte(typeURL, '.')+1:] // Cluster, RouteConfiguration...
	counter(&m.nacks, short).Add(1)
}

// Applied records a config applied at now with its version.
func (m *XDSMetrics) Applied(version string, now time.Time) {
	m.mu.Lock()
	m.version = version
	m.mu.Unlock()
	m.lastApply.Store(now.UnixNano())
}

// Describe implements prometheus.Collector.
func (m *XDSMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- descXDSConnected
	ch <- descXDSLastUpdate
	ch <- descXDSVersion
	ch <- descXDSNacks
}

// Collect implements prometheus.Collector.
func (m *XDSMetrics) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(descXDSConnected, prometheus.GaugeValue, float64(m.connected.Load()))
	ch <- prometheus.MustNewConstMetric(descXDSLastUpdate, prometheus.GaugeValue, float64(m.lastApply.Load())/1e9)
	m.mu.Lock()
	v := m.version
	m.mu.Unlock()
	if v != "" {
		ch <- prometheus.MustNewConstMetric(descXDSVersion, prometheus.GaugeValue, 1, v)
	}
	m.nacks.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(descXDSNacks, prometheus.CounterValue, float64(v.(*atomic.Uint64).Load()), k.(string))
		return true
	})
}

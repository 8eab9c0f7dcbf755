package telemetry

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

var descAuthzDenied = prometheus.NewDesc("weft_authz_denied_total",
	"Inbound requests denied by an authorization policy, by the policy that decided (\"none\": no ALLOW policy matched).",
	[]string{"policy"}, nil)

// maxAuthzSeries caps the distinct policy labels kept; further policies
// are counted under "other", so a config with many policies cannot grow
// the metric without bound.
const maxAuthzSeries = 1000

type authzCounts struct {
	m sync.Map // policy -> *atomic.Uint64
	n atomic.Int64
}

// AuthzDenied counts one request denied by policy.
func (m *ProxyMetrics) AuthzDenied(policy string) {
	if m == nil {
		return
	}
	a := &m.authz
	if v, ok := a.m.Load(policy); ok {
		v.(*atomic.Uint64).Add(1)
		return
	}
	if a.n.Load() >= maxAuthzSeries {
		policy = "other"
	}
	v, loaded := a.m.LoadOrStore(policy, new(atomic.Uint64))
	if !loaded {
		a.n.Add(1)
	}
	v.(*atomic.Uint64).Add(1)
}

type authzCollector struct{ a *authzCounts }

func (c authzCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descAuthzDenied }

func (c authzCollector) Collect(ch chan<- prometheus.Metric) {
	c.a.m.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(descAuthzDenied, prometheus.CounterValue, float64(v.(*atomic.Uint64).Load()), k.(string))
		return true
	})
}

package telemetry

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// retryMetrics counts retries and retries the budget refused, per cluster.
type retryMetrics struct {
	retries   sync.Map // retryKey -> *atomic.Uint64
	exhausted sync.Map // cluster -> *atomic.Uint64
}

type retryKey struct{ cluster, reason string }

var (
	descRetries = prometheus.NewDesc("weft_proxy_retries_total",
		"Retries sent, by upstream cluster and the reason the previous try failed.", []string{"cluster", "reason"}, nil)
	descBudgetExhausted = prometheus.NewDesc("weft_proxy_retry_budget_exhausted_total",
		"Retries the policy allowed but the cluster's retry budget refused.", []string{"cluster"}, nil)
)

// Retry counts one retry to cluster; reason names why the previous try
// failed (connect-failure, reset, per-try-timeout, status).
func (m *ProxyMetrics) Retry(cluster, reason string) {
	if m == nil {
		return
	}
	counter(&m.retry.retries, retryKey{cluster, reason}).Add(1)
}

// RetryBudgetExhausted counts one retry refused by cluster's budget.
func (m *ProxyMetrics) RetryBudgetExhausted(cluster string) {
	if m == nil {
		return
	}
	counter(&m.retry.exhausted, cluster).Add(1)
}

// Retries returns the retries counted for cluster and reason, for tests
// and the admin endpoint.
func (m *ProxyMetrics) Retries(cluster, reason string) uint64 {
	if m == nil {
		return 0
	}
	return counter(&m.retry.retries, retryKey{cluster, reason}).Load()
}

type retryCollector struct{ m *retryMetrics }

func (c retryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRetries
	ch <- descBudgetExhausted
}

func (c retryCollector) Collect(ch chan<- prometheus.Metric) {
	c.m.retries.Range(func(k, v any) bool {
		key := k.(retryKey)
		ch <- prometheus.MustNewConstMetric(descRetries, prometheus.CounterValue, float64(v.(*atomic.Uint64).Load()), key.cluster, key.reason)
		return true
	})
	c.m.exhausted.Range(func(k, v any) bool {
		ch <- prometheus.MustNewConstMetric(descBudgetExhausted, prometheus.CounterValue, float64(v.(*atomic.Uint64).Load()), k.(string))
		return true
	})
}

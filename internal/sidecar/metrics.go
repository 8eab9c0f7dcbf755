package sidecar

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// Metrics shapes the request and TCP metrics on the admin port's
// /metrics. It is read at start: a reload that changes it is refused.
type Metrics struct {
	// Names is "weft" (the default: weft_requests_total,
	// weft_request_duration_milliseconds, weft_request_bytes,
	// weft_response_bytes, weft_tcp_*) or "istio" (istio_requests_total,
	// ...: Istio's exact names, so its Grafana dashboards and Kiali work
	// unchanged). Labels are Istio's standard ones either way. Default:
	// $WEFT_METRICS_NAMES, so one variable set where the sidecars start
	// (weft run, weft proxy, weft demo) names every sidecar's metrics
	// alike; else "weft".
	Names string `yaml:"names" json:"names,omitempty"`
	// DropLabels leaves these labels out of every request and TCP series
	// (e.g. [source_principal, destination_principal]) to bound
	// cardinality in the proxy itself. reporter cannot be dropped.
	DropLabels []string `yaml:"dropLabels" json:"dropLabels,omitempty"`
	// DurationBuckets are the duration histogram's upper bounds in
	// milliseconds, ascending, at most 40. Default: Istio's, 0.5 ms to 1 h.
	DurationBuckets []float64 `yaml:"durationBuckets" json:"durationBuckets,omitempty"`
	// BytesBuckets are the size histograms' upper bounds in bytes,
	// ascending, at most 40. Default: Istio's, 1 B to 100 MB by ×10.
	BytesBuckets []float64 `yaml:"bytesBuckets" json:"bytesBuckets,omitempty"`
	// MaxSeries caps the request and TCP series kept; observations that
	// would start another are counted in weft_metrics_series_dropped_total.
	// Default 10000, at most 1000000.
	MaxSeries int `yaml:"maxSeries" json:"maxSeries,omitempty"`
	// Cluster is this workload's cluster, for source_cluster and
	// destination_cluster (Istio's multi-cluster label). Default: unknown.
	Cluster string `yaml:"cluster" json:"cluster,omitempty"`
}

// metricsNamesEnv sets the default of metrics.names for every sidecar
// started in its environment.
const metricsNamesEnv = "WEFT_METRICS_NAMES"

func (m *Metrics) options() telemetry.MetricsOptions {
	if m == nil {
		return telemetry.MetricsOptions{Names: os.Getenv(metricsNamesEnv)}
	}
	names := m.Names
	if names == "" {
		names = os.Getenv(metricsNamesEnv)
	}
	return telemetry.MetricsOptions{Names: names, DropLabels: m.DropLabels,
		DurationBuckets: m.DurationBuckets, BytesBuckets: m.BytesBuckets, MaxSeries: m.MaxSeries}
}

func (m *Metrics) validate(fe *fieldErrors) {
	if m == nil || m.Names == "" {
		switch v := os.Getenv(metricsNamesEnv); v {
		case "", "weft", "istio":
		default:
			fe.add("$"+metricsNamesEnv, "%q is not weft or istio (it is metrics.names' default)", v)
			return
		}
	}
	if m == nil {
		return
	}
	o := m.options()
	if err := o.Validate("metrics"); err != nil {
		path, reason, _ := strings.Cut(err.Error(), ": ")
		fe.add(path, "%s", reason)
	}
	if strings.ContainsAny(m.Cluster, ";=\r\n") {
		fe.add("metrics.cluster", "%q may not contain ';', '=' or line breaks", m.Cluster)
	}
}

var errMetricsChanged = errors.New("reload: metrics changed: restart the sidecar to apply it")

func metricsChanged(a, b *Config) bool { return !reflect.DeepEqual(a.Metrics, b.Metrics) }

// self is this sidecar's workload for metrics labels: the service it
// fronts (NAME or NAME.NAMESPACE; namespace default), its registration's
// app and version labels, and the configured cluster.
func self(c *Config) *proxy.Self {
	service, labels := c.Service, map[string]string(nil)
	if r := c.Register; r != nil {
		if r.Service != "" {
			service = r.Service
		}
		labels = r.Labels
	}
	name, ns, _ := strings.Cut(service, ".")
	if ns == "" && name != "" {
		ns = "default"
	}
	w := telemetry.Workload{Name: name, Namespace: ns, App: labels["app"], Version: labels["version"]}
	if v := labels["workload"]; v != "" {
		w.Name = v
	}
	if c.Metrics != nil {
		w.Cluster = c.Metrics.Cluster
	}
	if w.App == "" {
		w.App = name
	}
	svc := telemetry.Service{Name: name, Namespace: ns}
	if name != "" {
		svc.Host = name + "." + ns
	}
	return proxy.NewSelf(w, svc)
}

// clusterStats reads every cluster's breaker and ejection state, for
// /metrics.
func (s *Sidecar) clusterStats() []telemetry.ClusterStat {
	var out []telemetry.ClusterStat
	now := time.Now()
	add := func(st *proxy.State) {
		if st == nil {
			return
		}
		for _, name := range st.Clusters.Names() {
			cl := st.Clusters.Get(name)
			cs := telemetry.ClusterStat{Cluster: name, Endpoints: len(cl.Endpoints)}
			if cl.Breaker != nil {
				for _, k := range breaker.Kinds {
					cs.Breaker = append(cs.Breaker, telemetry.BreakerStat{Kind: k.String(), Active: cl.Breaker.Active(k), Limit: limitOf(cl.Breaker.Limits(), k)})
				}
			}
			for _, ep := range cl.Endpoints {
				if ep.Outlier.EjectedUntil().After(now) {
					cs.Ejected++
				}
			}
			out = append(out, cs)
		}
	}
	add(s.outbound.Load())
	for _, rts := range s.inbound {
		add(rts.h1.Load())
	}
	return out
}

func limitOf(l breaker.Limits, k breaker.Kind) uint32 {
	switch k {
	case breaker.Connections:
		return l.MaxConnections
	case breaker.Pending:
		return l.MaxPendingRequests
	case breaker.Requests:
		return l.MaxRequests
	}
	return l.MaxRetries
}

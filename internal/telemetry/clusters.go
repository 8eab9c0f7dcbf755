package telemetry

import "github.com/prometheus/client_golang/prometheus"

// ClusterStat is one upstream cluster's live state, read at scrape time.
type ClusterStat struct {
	Cluster string
	// Breaker holds, per cap kind (connections, pending, requests,
	// retries), what is in flight and the cap (0: none).
	Breaker []BreakerStat
	// Endpoints and Ejected count the cluster's endpoints and those outlier
	// detection has ejected now.
	Endpoints, Ejected int
}

// BreakerStat is one circuit-breaker cap of a cluster.
type BreakerStat struct {
	Kind   string
	Active int64
	Limit  uint32
}

var (
	descBreakerActive = prometheus.NewDesc("weft_proxy_breaker_active",
		"In flight to the cluster from this proxy, per circuit-breaker kind (connections, pending, requests, retries).", []string{"cluster", "kind"}, nil)
	descBreakerLimit = prometheus.NewDesc("weft_proxy_breaker_limit",
		"The cluster's circuit-breaker cap per kind; 0 means none.", []string{"cluster", "kind"}, nil)
	descBreakerOpen = prometheus.NewDesc("weft_proxy_breaker_open",
		"1 while the kind's cap is reached and new ones fail fast with UO (Envoy's circuit_breakers.*_open), else 0.", []string{"cluster", "kind"}, nil)
	descEndpoints = prometheus.NewDesc("weft_proxy_cluster_endpoints",
		"Endpoints of the cluster known to this proxy.", []string{"cluster"}, nil)
	descEjected = prometheus.NewDesc("weft_proxy_ejected_endpoints",
		"Endpoints of the cluster ejected by outlier detection now.", []string{"cluster"}, nil)
)

// RegisterClusterStats exposes cluster state read from f at scrape time.
func RegisterClusterStats(reg prometheus.Registerer, f func() []ClusterStat) {
	reg.MustRegister(clusterCollector(f))
}

type clusterCollector func() []ClusterStat

func (clusterCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descBreakerActive, descBreakerLimit, descBreakerOpen, descEndpoints, descEjected} {
		ch <- d
	}
}

func (f clusterCollector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range f() {
		for _, b := range c.Breaker {
			ch <- prometheus.MustNewConstMetric(descBreakerActive, prometheus.GaugeValue, float64(b.Active), c.Cluster, b.Kind)
			ch <- prometheus.MustNewConstMetric(descBreakerLimit, prometheus.GaugeValue, float64(b.Limit), c.Cluster, b.Kind)
			open := 0.0
			if b.Limit > 0 && b.Active >= int64(b.Limit) {
				open = 1
			}
			ch <- prometheus.MustNewConstMetric(descBreakerOpen, prometheus.GaugeValue, open, c.Cluster, b.Kind)
		}
		ch <- prometheus.MustNewConstMetric(descEndpoints, prometheus.GaugeValue, float64(c.Endpoints), c.Cluster)
		ch <- prometheus.MustNewConstMetric(descEjected, prometheus.GaugeValue, float64(c.Ejected), c.Cluster)
	}
}

package telemetry

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestXDSMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewXDSMetrics(reg)
	m.StreamUp("cp:1")
	m.Nacked("type.googleapis.com/envoy.config.cluster.v3.Cluster")
	m.Nacked("type.googleapis.com/envoy.config.cluster.v3.Cluster")
	m.Applied("1.7", time.Unix(1700000000, 0))
	mfs := scrape(t, reg)
	if v := only(t, mfs, "weft_xds_connected").GetGauge().GetValue(); v != 1 {
		t.Errorf("connected %v, want 1", v)
	}
	if v := only(t, mfs, "weft_xds_last_update_timestamp_seconds").GetGauge().GetValue(); v != 1700000000 {
		t.Errorf("last update %v", v)
	}
	if l := labelsOf(only(t, mfs, "weft_xds_config_info")); l["version"] != "1.7" {
		t.Errorf("config info %v", l)
	}
	n := only(t, mfs, "weft_xds_nacks_total")
	if labelsOf(n)["type"] != "Cluster" || n.GetCounter().GetValue() != 2 {
		t.Errorf("nacks %v", n)
	}
	m.StreamDown("cp:1")
	if v := only(t, scrape(t, reg), "weft_xds_connected").GetGauge().GetValue(); v != 0 {
		t.Errorf("connected after the stream ended %v, want 0", v)
	}
}

func TestClusterStats(t *testing.T) {
	reg := prometheus.NewRegistry()
	RegisterClusterStats(reg, func() []ClusterStat {
		return []ClusterStat{{Cluster: "catalog.default", Endpoints: 3, Ejected: 1,
			Breaker: []BreakerStat{{Kind: "requests", Active: 5, Limit: 5}, {Kind: "pending", Active: 2, Limit: 0}}}}
	})
	mfs := scrape(t, reg)
	open := map[string]float64{}
	for _, m := range mfs["weft_proxy_breaker_open"].GetMetric() {
		open[labelsOf(m)["kind"]] = m.GetGauge().GetValue()
	}
	if open["requests"] != 1 || open["pending"] != 0 {
		t.Errorf("breaker open %v, want requests 1 (at its cap), pending 0 (no cap)", open)
	}
	if v := only(t, mfs, "weft_proxy_ejected_endpoints").GetGauge().GetValue(); v != 1 {
		t.Errorf("ejected %v", v)
	}
}

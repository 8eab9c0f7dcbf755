package translate

import (
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// localityConfig is TrafficPolicy loadBalancer.localityAware in Envoy's
// terms: zone-aware routing enabled for 100 % of requests, or for none.
func localityConfig(on bool) *clusterv3.Cluster_CommonLbConfig {
	pct := 0.0
	if on {
		pct = 100
	}
	return &clusterv3.Cluster_CommonLbConfig{
		LocalityConfigSpecifier: &clusterv3.Cluster_CommonLbConfig_ZoneAwareLbConfig_{
			ZoneAwareLbConfig: &clusterv3.Cluster_CommonLbConfig_ZoneAwareLbConfig{RoutingEnabled: &typev3.Percent{Value: pct}},
		},
	}
}

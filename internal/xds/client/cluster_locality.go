package client

import (
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// localityLbToProxy maps common_lb_config's zone-aware switch: routing
// enabled for 0 % turns locality-aware balancing off, 100 % (or no
// config) leaves it on. A share in between, or locality-weighted
// balancing, is not something the sidecar does: NACKed.
func localityLbToProxy(c *envoypb.Cluster_CommonLbConfig, cc *cluster.Config) error {
	if c == nil {
		return nil
	}
	if c.GetLocalityWeightedLbConfig() != nil {
		return unsupported("common_lb_config.locality_weighted_lb_config", "locality-weighted balancing")
	}
	z := c.GetZoneAwareLbConfig()
	if z == nil || z.GetRoutingEnabled() == nil {
		return nil
	}
	switch v := z.GetRoutingEnabled().GetValue(); v {
	case 0:
		cc.NoLocality = true
	case 100:
	default:
		return unsupported("common_lb_config.zone_aware_lb_config.routing_enabled", "%v %% (only 0 or 100)", v)
	}
	return nil
}

package client

import (
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// breakersToProxy reads max_connections of the first threshold only (the
// DEFAULT priority, as translate writes it), after checking that every
// threshold's priority is defined.
func breakersToProxy(b *envoypb.CircuitBreakers, cc *cluster.Config) error {
	ts := b.GetThresholds()
	for _, t := range ts {
		if p := t.GetPriority(); envoypb.RoutingPriority_name[int32(p)] == "" {
			return invalid("thresholds.priority", "undefined priority %d", p)
		}
	}
	if len(ts) > 0 {
		if mc := ts[0].GetMaxConnections(); mc != nil {
			cc.MaxConnsPerEndpoint = int(mc.GetValue())
		}
		if rb := ts[0].GetRetryBudget(); rb != nil {
			b, err := budgetToProxy(rb)
			if err != nil {
				return err
			}
			cc.RetryBudget = b
		}
	}
	return nil
}

// httpOptionsToProxy maps the upstream HTTP protocol options: the idle
// timeout, HTTP/2 when the config is explicit_http_config with
// http2_protocol_options (xdstest.ToProxy's test), and the downstream's
// version (cluster.Auto) for use_downstream_protocol_config. Auto configs
// and none stay HTTP/1.1, as in Envoy.
func httpOptionsToProxy(o *envoypb.UpstreamHttpProtocolOptions, cc *cluster.Config) {
	switch {
	case o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil:
		cc.Protocol = cluster.HTTP2
	case o.GetUseDownstreamProtocolConfig() != nil:
		cc.Protocol = cluster.Auto
	}
	if t := o.GetCommonHttpProtocolOptions().GetIdleTimeout(); t != nil {
		cc.IdleTimeout = t.AsDuration()
	}
}

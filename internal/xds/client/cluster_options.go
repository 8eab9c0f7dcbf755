package client

import (
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// Envoy's defaults for a threshold field left unset.
const (
	defaultBreakerCap = 1024
	defaultMaxRetries = 3
)

// breakersToProxy reads the DEFAULT-priority threshold onto the cluster's
// breaker (Envoy's defaults for unset fields; no threshold caps nothing)
// and retry budget (which, as in Envoy, lifts max_retries),
// and the DEFAULT per-host threshold's max_connections, the one per-host
// limit Envoy has, onto the per-endpoint cap.
func breakersToProxy(b *envoypb.CircuitBreakers, cc *cluster.Config) error {
	if len(b.GetThresholds())+len(b.GetPerHostThresholds()) > maxMapEntries {
		return overLimit("thresholds", maxMapEntries)
	}
	for _, t := range append(b.GetThresholds(), b.GetPerHostThresholds()...) {
		if p := t.GetPriority(); envoypb.RoutingPriority_name[int32(p)] == "" {
			return invalid("thresholds.priority", "undefined priority %d", p)
		}
	}
	for _, t := range b.GetThresholds() {
		if t.GetPriority() != envoypb.RoutingPriority_DEFAULT {
			continue // Weft has one priority
		}
		cc.Breaker = breaker.Limits{
			MaxConnections:     wrapped(t.GetMaxConnections(), defaultBreakerCap),
			MaxPendingRequests: wrapped(t.GetMaxPendingRequests(), defaultBreakerCap),
			MaxRequests:        wrapped(t.GetMaxRequests(), defaultBreakerCap),
			MaxRetries:         wrapped(t.GetMaxRetries(), defaultMaxRetries),
		}
		if rb := t.GetRetryBudget(); rb != nil {
			b, err := budgetToProxy(rb)
			if err != nil {
				return err
			}
			cc.RetryBudget = b
			// As in Envoy, a retry budget overrides max_retries.
			cc.Breaker.MaxRetries = 0
		}
		break
	}
	for _, t := range b.GetPerHostThresholds() {
		if t.GetMaxPendingRequests() != nil || t.GetMaxRequests() != nil || t.GetMaxRetries() != nil || t.GetRetryBudget() != nil {
			return unsupported("per_host_thresholds", "only max_connections is a per-host limit")
		}
		if t.GetPriority() == envoypb.RoutingPriority_DEFAULT && t.GetMaxConnections() != nil {
			cc.MaxConnsPerEndpoint = int(min(t.GetMaxConnections().GetValue(), maxInt32))
			break
		}
	}
	return nil
}

const maxInt32 = 1<<31 - 1

// wrapped is v's value, or d when v is unset.
func wrapped(v *wrapperspb.UInt32Value, d uint32) uint32 {
	if v == nil {
		return d
	}
	return v.GetValue()
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

package client

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// decodeEndpoints maps one ClusterLoadAssignment onto the endpoints of its
// cluster, dropping the not-ready ones, as xdstest.ToProxy does.
func decodeEndpoints(b []byte) (string, []cluster.EndpointConfig, error) {
	var m envoypb.ClusterLoadAssignment
	if err := unmarshal(b, &m); err != nil {
		return "", nil, fmt.Errorf("endpoints: %w", err)
	}
	eps, err := endpointsToProxy(&m)
	if err != nil {
		return "", nil, fmt.Errorf("endpoints %q: %w", m.GetClusterName(), err)
	}
	return m.GetClusterName(), eps, nil
}

func endpointsToProxy(m *envoypb.ClusterLoadAssignment) ([]cluster.EndpointConfig, error) {
	if err := capped("cluster_name", m.GetClusterName(), maxName); err != nil {
		return nil, err
	}
	locs := m.GetEndpoints()
	if len(locs) > maxLocalities {
		return nil, overLimit("endpoints", maxLocalities)
	}
	count := 0
	for _, l := range locs {
		if count += len(l.GetLbEndpoints()); count > maxEndpoints {
			return nil, overLimit("lb_endpoints", maxEndpoints)
		}
	}
	var out []cluster.EndpointConfig
	for i, l := range locs {
		var err error
		if out, err = localityToProxy(l, out); err != nil {
			return nil, fmt.Errorf("endpoints[%d]: %w", i, err)
		}
	}
	if !nonEmpty(m.GetClusterName()) {
		return nil, invalid("cluster_name", "must not be empty")
	}
	return out, nil
}

// localityToProxy appends a locality's ready endpoints to out, each
// stamped with the locality's region and zone.
func localityToProxy(l *envoypb.LocalityLbEndpoints, out []cluster.EndpointConfig) ([]cluster.EndpointConfig, error) {
	zone, region := l.GetLocality().GetZone(), l.GetLocality().GetRegion()
	if err := capped("locality.zone", zone, maxName); err != nil {
		return out, err
	}
	if err := capped("locality.region", region, maxName); err != nil {
		return out, err
	}
	for i, lb := range l.GetLbEndpoints() {
		ep, ready, err := lbEndpointToProxy(lb)
		if err != nil {
			return out, fmt.Errorf("lb_endpoints[%d]: %w", i, err)
		}
		if ready {
			ep.Zone, ep.Region = zone, region
			out = append(out, ep)
		}
	}
	switch {
	case l.GetLoadBalancingWeight() != nil && l.GetLoadBalancingWeight().GetValue() < 1:
		return out, invalid("load_balancing_weight", "must be at least 1")
	case l.GetPriority() > 128:
		return out, invalid("priority", "must be at most 128")
	}
	return out, nil
}

// lbEndpointToProxy maps one LbEndpoint; ready is false for one translate
// lists only so operators see it (UNHEALTHY or DRAINING).
func lbEndpointToProxy(lb *envoypb.LbEndpoint) (ep cluster.EndpointConfig, ready bool, err error) {
	labels, err := weftLabels(lb.GetMetadata())
	if err != nil {
		return ep, false, err
	}
	if w := lb.GetLoadBalancingWeight(); w != nil && w.GetValue() < 1 {
		return ep, false, invalid("load_balancing_weight", "must be at least 1")
	}
	addr := lb.GetEndpoint().GetAddress()
	if addr != nil {
		if err := checkAddress(addr); err != nil {
			return ep, false, fmt.Errorf("endpoint.address: %w", err)
		}
	}
	switch lb.GetHealthStatus() {
	case envoypb.HealthStatus_UNHEALTHY, envoypb.HealthStatus_DRAINING:
		return ep, false, nil // not ready: known, but sent nothing
	}
	if lb.GetEndpoint() == nil {
		return ep, false, unsupported("endpoint", "%v", errNoSocketAddress)
	}
	hostPort, err := hostPort(addr)
	if err != nil {
		return ep, false, err
	}
	return cluster.EndpointConfig{Address: hostPort, Weight: lb.GetLoadBalancingWeight().GetValue(), Labels: labels,
		MTLS: mtlsMarked(lb.GetMetadata())}, true, nil
}

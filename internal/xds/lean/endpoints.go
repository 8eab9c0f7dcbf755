package lean

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// HealthStatus values an endpoint is sent nothing in: translate lists
// not-ready instances as UNHEALTHY so operators still see them.
const (
	healthUnhealthy = 2
	healthDraining  = 3
)

// endpointsMsg is one ClusterLoadAssignment as the proxy needs it.
type endpointsMsg struct {
	cluster   string
	endpoints []cluster.EndpointConfig
	count     int // lb_endpoints read, ready or not (the cap counts all)
	locs      int
}

// decodeEndpoints maps one ClusterLoadAssignment onto the endpoints of its
// cluster, dropping the not-ready ones, as client.ToProxy does. Fields:
// ClusterLoadAssignment cluster_name 1, endpoints 2; LocalityLbEndpoints
// locality 1 (zone 2), lb_endpoints 2, load_balancing_weight 3, priority 5;
// LbEndpoint endpoint 1 (address 1) or endpoint_name 5, health_status 2,
// metadata 3, load_balancing_weight 4.
func decodeEndpoints(b []byte) (string, []cluster.EndpointConfig, error) {
	var m endpointsMsg
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			m.cluster, err = str(f, "cluster_name", maxName)
		case f.is(2, bytesT):
			if m.locs++; m.locs > maxLocalities {
				return overLimit("endpoints", maxLocalities)
			}
			if err = m.mergeLocality(f.b); err != nil {
				err = fmt.Errorf("endpoints[%d]: %w", m.locs-1, err)
			}
		}
		return err
	})
	if err == nil && !nonEmpty(m.cluster) {
		err = invalid("cluster_name", "must not be empty")
	}
	if err != nil {
		return "", nil, fmt.Errorf("endpoints %q: %w", m.cluster, err)
	}
	return m.cluster, m.endpoints, nil
}

// mergeLocality reads one LocalityLbEndpoints. Its zone may come after its
// endpoints on the wire, so it is stamped on them once the message is read.
func (m *endpointsMsg) mergeLocality(b []byte) error {
	start := len(m.endpoints)
	var zone string
	var weight u32
	var priority uint32
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT): // locality
			err = walk(f.b, func(f field) error {
				var err error
				switch {
				case f.is(2, bytesT):
					zone, err = str(f, "locality.zone", maxName)
				case f.typ == bytesT && (f.num == 1 || f.num == 3):
					err = checkUTF8(f, "locality")
				}
				return err
			})
		case f.is(2, bytesT):
			if m.count++; m.count > maxEndpoints {
				return overLimit("lb_endpoints", maxEndpoints)
			}
			err = m.mergeLbEndpoint(f.b)
		case f.is(3, bytesT):
			err = weight.merge(f.b)
		case f.is(5, varintT):
			priority = uint32(f.u)
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case weight.set && weight.v < 1:
		return invalid("load_balancing_weight", "must be at least 1")
	case priority > 128:
		return invalid("priority", "must be at most 128")
	}
	for i := start; i < len(m.endpoints); i++ {
		m.endpoints[i].Zone = zone
	}
	return nil
}

// mergeLbEndpoint reads one LbEndpoint and, when it is ready, appends it.
func (m *endpointsMsg) mergeLbEndpoint(b []byte) error {
	var (
		hostKind int // endpoint (1) or endpoint_name (5), the last one sent
		addr     address
		health   int32
		weight   u32
		meta     metadata
	)
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			if hostKind != 1 {
				addr = address{}
			}
			hostKind = 1
			err = walk(f.b, func(f field) error {
				if f.is(1, bytesT) {
					return addr.merge(f.b)
				}
				return nil
			})
		case f.is(5, bytesT):
			hostKind, addr = 5, address{}
			err = checkUTF8(f, "endpoint_name")
		case f.is(2, varintT):
			health = int32(f.u)
		case f.is(3, bytesT):
			err = meta.merge(f.b)
		case f.is(4, bytesT):
			err = weight.merge(f.b)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("lb_endpoints[%d]: %w", m.count-1, err)
	}
	if weight.set && weight.v < 1 {
		return invalid(fmt.Sprintf("lb_endpoints[%d].load_balancing_weight", m.count-1), "must be at least 1")
	}
	if err := addr.check(); err != nil {
		return fmt.Errorf("lb_endpoints[%d].endpoint.address: %w", m.count-1, err)
	}
	if health == healthUnhealthy || health == healthDraining {
		return nil // not ready: known, but sent nothing
	}
	hostPort, err := addr.hostPort(hostKind == 1)
	if err != nil {
		return fmt.Errorf("lb_endpoints[%d]: %w", m.count-1, err)
	}
	m.endpoints = append(m.endpoints, cluster.EndpointConfig{Address: hostPort, Weight: weight.v, Labels: meta.weft})
	return nil
}

package lean

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// Message names of the types this package decodes; a resource's Any must
// name its message the way anypb.UnmarshalTo checks it.
const (
	clusterMsgName   = "envoy.config.cluster.v3.Cluster"
	endpointsMsgName = "envoy.config.endpoint.v3.ClusterLoadAssignment"
	routesMsgName    = "envoy.config.route.v3.RouteConfiguration"
	httpOptsMsgName  = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// httpOptionsKey is where a cluster keeps its upstream HTTP protocol
// options (translate's key, duplicated so translate is not linked).
const httpOptionsKey = httpOptsMsgName

// Cluster.lb_policy values Weft maps; Envoy's other defined values are
// RANDOM 3, MAGLEV 5, CLUSTER_PROVIDED 6, LOAD_BALANCING_POLICY_CONFIG 7.
const (
	lbRoundRobin   = 0
	lbLeastRequest = 1
	lbRingHash     = 2
)

var definedLBPolicies = map[int32]bool{0: true, 1: true, 2: true, 3: true, 5: true, 6: true, 7: true}

// clusterMsg holds the Cluster fields Weft reads or Envoy validates.
type clusterMsg struct {
	name           string
	discovery      int32 // the "type" enum, when kind is 2
	discoveryKind  int   // which member of cluster_discovery_type came last
	connectTimeout duration
	lbPolicy       int32
	breakers       breakers
	httpOpts       *anyMsg // typed_extension_protocol_options[httpOptionsKey]
}

// decodeCluster maps one Cluster onto the proxy's cluster config, without
// endpoints (they come by EDS), as client.ToProxy does. Cluster fields:
// name 1, type 2 or cluster_type 38 (oneof), connect_timeout 4, lb_policy 6,
// circuit_breakers 10, typed_extension_protocol_options 36 (map of Any).
func decodeCluster(b []byte) (cluster.Config, error) {
	var m clusterMsg
	entries := 0
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			m.name, err = str(f, "name", maxName)
		case f.is(2, varintT):
			m.discovery, m.discoveryKind = int32(f.u), 2
		case f.is(38, bytesT):
			m.discoveryKind = 38
		case f.is(4, bytesT):
			err = m.connectTimeout.merge(f.b)
		case f.is(6, varintT):
			m.lbPolicy = int32(f.u)
		case f.is(10, bytesT):
			err = m.breakers.merge(f.b)
		case f.is(36, bytesT):
			if entries++; entries > maxMapEntries {
				return overLimit("typed_extension_protocol_options", maxMapEntries)
			}
			err = m.mergeOption(f.b)
		}
		return err
	})
	if err != nil {
		return cluster.Config{}, fmt.Errorf("cluster %q: %w", m.name, err)
	}
	cc, err := m.toProxy()
	if err != nil {
		return cluster.Config{}, fmt.Errorf("cluster %q: %w", m.name, err)
	}
	return cc, nil
}

// mergeOption reads one typed_extension_protocol_options map entry. A later
// entry for the same key replaces an earlier one, as in a protobuf map.
func (m *clusterMsg) mergeOption(b []byte) error {
	var key string
	var val anyMsg
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			key, err = str(f, "typed_extension_protocol_options key", maxName)
		case f.is(2, bytesT):
			err = val.merge(f.b)
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("typed_extension_protocol_options: %w", err)
	}
	if key == httpOptionsKey {
		m.httpOpts = &val
	}
	return nil
}

// toProxy validates what Envoy's rules check on the fields read, then maps
// them as client.ToProxy does.
func (m *clusterMsg) toProxy() (cluster.Config, error) {
	cc := cluster.Config{Name: m.name}
	if !nonEmpty(m.name) {
		return cc, invalid("name", "must not be empty")
	}
	if m.discoveryKind == 2 && (m.discovery < 0 || m.discovery > 4) {
		return cc, invalid("type", "undefined discovery type %d", m.discovery)
	}
	if t := m.connectTimeout; t.set {
		if !t.valid() || t.std() <= 0 {
			return cc, invalid("connect_timeout", "must be a valid duration above 0")
		}
		cc.ConnectTimeout = t.std()
	}
	if !definedLBPolicies[m.lbPolicy] {
		return cc, invalid("lb_policy", "undefined policy %d", m.lbPolicy)
	}
	switch m.lbPolicy {
	case lbLeastRequest:
		cc.LB = cluster.LBPeakEWMA
	case lbRoundRobin:
		cc.LB = cluster.LBRoundRobin
	case lbRingHash:
		cc.LB = cluster.LBRingHash
	default:
		return cc, unsupported("lb_policy", "policy %d", m.lbPolicy)
	}
	if err := m.breakers.err; err != nil {
		return cc, fmt.Errorf("circuit_breakers: %w", err)
	}
	if m.breakers.first.set {
		cc.MaxConnsPerEndpoint = int(m.breakers.first.v)
	}
	if m.httpOpts != nil {
		if !m.httpOpts.is(httpOptsMsgName) {
			return cc, invalid("typed_extension_protocol_options", "%s holds %q", httpOptionsKey, m.httpOpts.typeURL)
		}
		var o httpOptions
		if err := o.merge(m.httpOpts.value); err != nil {
			return cc, fmt.Errorf("http protocol options: %w", err)
		}
		if o.http2() {
			cc.Protocol = cluster.HTTP2
		}
		cc.IdleTimeout = o.idleTimeout.std()
	}
	return cc, nil
}

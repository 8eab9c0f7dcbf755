package client

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// Envoy's names of the messages this package decodes. A resource's Any must
// name its message the way anypb.UnmarshalTo checks it; its bytes then
// decode into envoypb's type with the same fields.
const (
	clusterMsgName   = "envoy.config.cluster.v3.Cluster"
	endpointsMsgName = "envoy.config.endpoint.v3.ClusterLoadAssignment"
	routesMsgName    = "envoy.config.route.v3.RouteConfiguration"
	httpOptsMsgName  = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
)

// httpOptionsKey is where a cluster keeps its upstream HTTP protocol
// options (translate's key, duplicated so translate is not linked).
const httpOptionsKey = httpOptsMsgName

// decodeCluster maps one Cluster onto the proxy's cluster config, without
// endpoints (they come by EDS), as xdstest.ToProxy does.
func decodeCluster(b []byte) (cluster.Config, error) {
	var m envoypb.Cluster
	if err := unmarshal(b, &m); err != nil {
		return cluster.Config{}, fmt.Errorf("cluster: %w", err)
	}
	cc, err := clusterToProxy(&m)
	if err != nil {
		return cluster.Config{}, fmt.Errorf("cluster %q: %w", m.GetName(), err)
	}
	return cc, nil
}

// clusterToProxy validates what Envoy's rules check on the fields read,
// then maps them as xdstest.ToProxy does.
func clusterToProxy(m *envoypb.Cluster) (cluster.Config, error) {
	cc := cluster.Config{Name: m.GetName()}
	if err := capped("name", cc.Name, maxName); err != nil {
		return cc, err
	}
	if len(m.GetTypedExtensionProtocolOptions()) > maxMapEntries {
		return cc, overLimit("typed_extension_protocol_options", maxMapEntries)
	}
	if !nonEmpty(cc.Name) {
		return cc, invalid("name", "must not be empty")
	}
	if t, ok := m.GetClusterDiscoveryType().(*envoypb.Cluster_Type); ok && envoypb.Cluster_DiscoveryType_name[int32(t.Type)] == "" {
		return cc, invalid("type", "undefined discovery type %d", t.Type)
	}
	if t := m.GetConnectTimeout(); t != nil {
		if t.CheckValid() != nil || t.AsDuration() <= 0 {
			return cc, invalid("connect_timeout", "must be a valid duration above 0")
		}
		cc.ConnectTimeout = t.AsDuration()
	}
	lb := m.GetLbPolicy()
	if envoypb.Cluster_LbPolicy_name[int32(lb)] == "" {
		return cc, invalid("lb_policy", "undefined policy %d", lb)
	}
	switch lb {
	case envoypb.Cluster_LEAST_REQUEST:
		cc.LB = cluster.LBPeakEWMA
	case envoypb.Cluster_ROUND_ROBIN:
		cc.LB = cluster.LBRoundRobin
	case envoypb.Cluster_RING_HASH:
		cc.LB = cluster.LBRingHash
	default:
		return cc, unsupported("lb_policy", "policy %s", lb)
	}
	if err := localityLbToProxy(m.GetCommonLbConfig(), &cc); err != nil {
		return cc, err
	}
	if err := breakersToProxy(m.GetCircuitBreakers(), &cc); err != nil {
		return cc, fmt.Errorf("circuit_breakers: %w", err)
	}
	tcp, err := tcpMarked(m.GetMetadata())
	if err != nil {
		return cc, fmt.Errorf("metadata: %w", err)
	}
	if tcp {
		if _, ok := m.GetTypedExtensionProtocolOptions()[httpOptionsKey]; ok {
			return cc, invalid("metadata", "a tcp cluster carries HTTP protocol options")
		}
		cc.Protocol = cluster.TCP
	}
	od, err := outlierToProxy(m.GetOutlierDetection())
	if err != nil {
		return cc, fmt.Errorf("outlier_detection: %w", err)
	}
	cc.Outlier = od
	if err := clusterMetadataToProxy(m.GetMetadata(), &cc); err != nil {
		return cc, err
	}
	if err := transportMatchesToProxy(m.GetTransportSocketMatches(), &cc); err != nil {
		return cc, err
	}
	if a, ok := m.GetTypedExtensionProtocolOptions()[httpOptionsKey]; ok {
		if !anyIs(a, httpOptsMsgName) {
			return cc, invalid("typed_extension_protocol_options", "%s holds %q", httpOptionsKey, a.GetTypeUrl())
		}
		var o envoypb.UpstreamHttpProtocolOptions
		if err := unmarshal(a.GetValue(), &o); err != nil {
			return cc, fmt.Errorf("http protocol options: %w", err)
		}
		httpOptionsToProxy(&o, &cc)
	}
	return cc, nil
}

package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/registry"
)

// MetadataKey holds Weft's endpoint labels in filter metadata.
const MetadataKey = "weft"

// buildEndpoints lists the instances whose labels include want, grouped by
// zone. Not-ready instances stay listed as UNHEALTHY, so operators see them
// and the proxy sends them nothing.
func buildEndpoints(cluster string, insts []registry.Instance, want map[string]string) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	byZone := map[string]*endpointv3.LocalityLbEndpoints{}
	var zones []string
	for _, in := range insts {
		if !hasLabels(in.Labels, want) {
			continue
		}
		loc := byZone[in.Zone]
		if loc == nil {
			loc = &endpointv3.LocalityLbEndpoints{Locality: &corev3.Locality{Zone: in.Zone}}
			byZone[in.Zone] = loc
			zones = append(zones, in.Zone)
		}
		health := corev3.HealthStatus_HEALTHY
		if !in.Ready {
			health = corev3.HealthStatus_UNHEALTHY
		}
		lb := &endpointv3.LbEndpoint{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
					Address: in.Address, PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(in.Port)},
				}}},
			}},
			HealthStatus: health,
		}
		if len(in.Labels) > 0 {
			fields := map[string]any{}
			for k, v := range in.Labels {
				fields[k] = v
			}
			if st, err := structpb.NewStruct(fields); err == nil {
				lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{MetadataKey: st}}
			}
		}
		if in.MTLS {
			if lb.Metadata == nil {
				lb.Metadata = &corev3.Metadata{FilterMetadata: map[string]*structpb.Struct{}}
			}
			lb.Metadata.FilterMetadata[TransportSocketMatchKey] = mtlsMatch()
		}
		loc.LbEndpoints = append(loc.LbEndpoints, lb)
	}
	for _, z := range zones {
		cla.Endpoints = append(cla.Endpoints, byZone[z])
	}
	return cla
}

func hasLabels(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

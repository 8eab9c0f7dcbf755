package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/registry"
)

// MetadataKey holds Weft's endpoint labels in filter metadata.
const MetadataKey = "weft"

// Kubernetes' well-known topology labels: an instance or static endpoint
// carrying them is placed in that region and zone (an instance's own zone
// field wins over the label).
const (
	LabelZone   = "topology.kubernetes.io/zone"
	LabelRegion = "topology.kubernetes.io/region"
)

// localityOf is where an instance runs, from its zone field and labels.
func localityOf(in registry.Instance) *corev3.Locality {
	zone := in.Zone
	if zone == "" {
		zone = in.Labels[LabelZone]
	}
	return &corev3.Locality{Region: in.Labels[LabelRegion], Zone: zone}
}

// buildEndpoints lists the instances whose labels include want, grouped by
// locality (region and zone). Not-ready instances stay listed as UNHEALTHY, so operators see them
// and the proxy sends them nothing.
func buildEndpoints(cluster string, insts []registry.Instance, want map[string]string) *endpointv3.ClusterLoadAssignment {
	cla := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	byZone := map[string]*endpointv3.LocalityLbEndpoints{}
	var zones []string
	for _, in := range insts {
		if !hasLabels(in.Labels, want) {
			continue
		}
		where := localityOf(in)
		key := where.Region + "/" + where.Zone
		loc := byZone[key]
		if loc == nil {
			loc = &endpointv3.LocalityLbEndpoints{Locality: where}
			byZone[key] = loc
			zones = append(zones, key)
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

package translate

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// MaxProxylessListeners caps the listener names one proxyless client's
// config is built for (a gRPC process asks for one per xds:/// target).
const MaxProxylessListeners = 256

// Proxyless builds what a proxyless gRPC client (grpc-go's xds resolver,
// gRFC A27) needs for the listener names it asked for: a gRPC channel to
// xds:///NAME subscribes to the Listener NAME, then to the route
// configuration that Listener names, then to the clusters its routes use,
// then to their endpoints, all by name.
//
// NAME is SERVICE, SERVICE.NAMESPACE (optionally with .svc or
// .svc.cluster.local), or a hostname of an HTTPRoute of the service, any
// of them with :PORT. A name that resolves to no Service gets no Listener,
// which gRPC reads as "does not exist" until one is created.
//
// Each Listener holds an API listener whose connection manager fetches a
// RouteConfiguration of the same name over ADS; its one virtual host
// lists NAME among its domains, since gRPC picks the virtual host by the
// target's authority. Routes are the sidecar's, adapted to what gRPC
// supports (grpcRoutes); clusters are EDS over ADS with ROUND_ROBIN or
// RING_HASH; every locality carries a weight, since gRPC ignores
// localities without one.
func Proxyless(in Input, listeners []string) (*Snapshot, error) {
	idx := index(in)
	byKey := map[string]*mesh.Service{}
	for _, svc := range idx.services {
		byKey[svc.Metadata.Namespace+"/"+svc.Metadata.Name] = svc
	}
	hostnames := map[string]*mesh.Service{}
	for key, rts := range idx.routes {
		for _, rt := range rts {
			for _, h := range rt.Spec.Hostnames {
				if svc := byKey[key]; svc != nil && hostnames[h] == nil {
					hostnames[h] = svc
				}
			}
		}
	}
	names := uniqueSorted(listeners, MaxProxylessListeners)
	snap := &Snapshot{}
	used := map[string]*mesh.Service{} // services whose clusters routes may name
	for _, ln := range names {
		svc := resolveListener(ln, byKey, hostnames)
		if svc == nil {
			continue
		}
		ns, name := svc.Metadata.Namespace, svc.Metadata.Name
		l, err := buildAPIListener(ln)
		if err != nil {
			return nil, err
		}
		routes := idx.routes[ns+"/"+name]
		vh, err := buildVirtualHost(svc, routes, idx.policies[ns+"/"+name])
		if err != nil {
			return nil, err
		}
		grpcVirtualHost(vh, ln)
		snap.Listeners = append(snap.Listeners, l)
		snap.Routes = append(snap.Routes, &routev3.RouteConfiguration{Name: ln, VirtualHosts: []*routev3.VirtualHost{vh}})
		used[ns+"/"+name] = svc
		for _, rt := range routes {
			for _, rule := range rt.Spec.Rules {
				for _, b := range rule.BackendRefs {
					if other := byKey[ns+"/"+b.Name]; other != nil {
						used[ns+"/"+b.Name] = other
					}
				}
			}
		}
	}
	keys := make([]string, 0, len(used))
	for k := range used {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		svc := used[k]
		ns, name := svc.Metadata.Namespace, svc.Metadata.Name
		insts := idx.instances(svc)
		for _, sub := range append([]mesh.Subset{{}}, svc.Spec.Subsets...) {
			cn := ClusterName(ns, name, sub.Name)
			snap.Clusters = append(snap.Clusters, grpcCluster(cn, idx.policies[k]))
			snap.Endpoints = append(snap.Endpoints, weighLocalities(buildEndpoints(cn, insts, sub.Labels)))
		}
	}
	return snap, nil
}

func uniqueSorted(in []string, limit int) []string {
	out := make([]string, 0, min(len(in), limit))
	seen := map[string]bool{}
	for _, s := range in {
		if s != "" && !seen[s] && len(out) < limit {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// resolveListener finds the Service a gRPC target's authority names.
func resolveListener(name string, byKey, hostnames map[string]*mesh.Service) *mesh.Service {
	host := name
	if h, port, ok := strings.Cut(name, ":"); ok {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return nil
		}
		host = h
	}
	if svc := hostnames[host]; svc != nil {
		return svc
	}
	host = strings.TrimSuffix(strings.TrimSuffix(host, ".cluster.local"), ".svc")
	svc, ns, ok := strings.Cut(host, ".")
	if !ok {
		ns = "default"
	}
	if strings.Contains(ns, ".") {
		return nil
	}
	return byKey[ns+"/"+svc]
}

// buildAPIListener is a Listener for a gRPC client: no address, only an
// API listener (gRFC A27 NACKs a client Listener without one).
func buildAPIListener(name string) (*listenerv3.Listener, error) {
	hcm, err := rdsConnectionManager(name, name)
	if err != nil {
		return nil, fmt.Errorf("translate listener %s: %w", name, err)
	}
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: hcm}}, nil
}

// grpcCluster is an EDS cluster as gRPC reads it (gRFC A27, A42): EDS over
// ADS, ROUND_ROBIN unless the policy asks for RING_HASH. P2C over EWMA
// latency has no gRPC equivalent, and the sidecar's connection and HTTP
// options mean nothing to a gRPC channel, so they are left out.
func grpcCluster(name string, pol *mesh.TrafficPolicy) *clusterv3.Cluster {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig: &corev3.ConfigSource{
				ResourceApiVersion:    corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
		},
		LbPolicy: clusterv3.Cluster_ROUND_ROBIN,
	}
	if pol != nil && pol.Spec.LoadBalancer != nil && pol.Spec.LoadBalancer.Type == "RING_HASH" {
		c.LbPolicy = clusterv3.Cluster_RING_HASH
	}
	return c
}

// weighLocalities gives each locality a weight equal to its healthy
// endpoints (at least 1): gRPC drops a locality that has none, and
// weighting by size keeps every endpoint's share equal across zones.
func weighLocalities(cla *endpointv3.ClusterLoadAssignment) *endpointv3.ClusterLoadAssignment {
	for _, loc := range cla.Endpoints {
		n := uint32(0)
		for _, e := range loc.LbEndpoints {
			if e.HealthStatus == corev3.HealthStatus_HEALTHY {
				n++
			}
		}
		loc.LoadBalancingWeight = wrapperspb.UInt32(max(n, 1))
	}
	return cla
}

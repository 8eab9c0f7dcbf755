// Package translate turns declarative resources and registry state into the
// xDS resources one sidecar needs: a pure function, golden-tested. The
// sidecar's xDS client maps them back onto its proxy structs.
package translate

import (
	"fmt"
	"sort"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/registry"
)

// OutboundRoute is the name of the RouteConfiguration every sidecar's
// outbound listeners use.
const OutboundRoute = "outbound"

// Input is everything the translation reads.
type Input struct {
	Resources []mesh.Resource
	Instances []registry.Instance
	// TrustDomain is the mesh CA's: a service's instances must prove the
	// identity spiffe://TrustDomain/ns/NAMESPACE/sa/SERVICE to serve it.
	// "" means identity.DefaultTrustDomain.
	TrustDomain string
	// TrustBundle is the CA's trust bundle (PEM, the signing root first),
	// served to sidecars as the SDS secret SDSRootName so that one push
	// moves every sidecar onto a new set of roots. Empty: no secret.
	TrustBundle []byte
}

// Snapshot is one sidecar's view, every list sorted by name so equal inputs
// give byte-equal output (and one marshalled copy can serve many proxies).
type Snapshot struct {
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	// Secrets are SDS resources: the trust bundle (SDSRootName).
	Secrets []*tlsv3.Secret
}

// ClusterName names a service's cluster, or one subset's.
func ClusterName(namespace, service, subset string) string {
	n := service + "." + namespace
	if subset != "" {
		n += "/" + subset
	}
	return n
}

// Translate builds the snapshot for a sidecar that calls the services
// wants accepts (nil: all), so a sidecar's config grows with what it
// uses, not with the mesh.
func Translate(in Input, wants func(namespace, service string) bool) (*Snapshot, error) {
	if wants == nil {
		wants = func(string, string) bool { return true }
	}
	idx := index(in)
	snap := &Snapshot{}
	rc := &routev3.RouteConfiguration{Name: OutboundRoute}
	for _, svc := range idx.services {
		ns, name := svc.Metadata.Namespace, svc.Metadata.Name
		if !wants(ns, name) {
			continue
		}
		pol := idx.policies[ns+"/"+name]
		insts := idx.instances(svc)
		subsets := append([]mesh.Subset{{}}, svc.Spec.Subsets...)
		for _, sub := range subsets {
			cn := ClusterName(ns, name, sub.Name)
			c, err := buildCluster(cn, svc, pol)
			if err != nil {
				return nil, err
			}
			if err := meshTLS(c, in.TrustDomain, svc, insts); err != nil {
				return nil, err
			}
			snap.Clusters = append(snap.Clusters, c)
			snap.Endpoints = append(snap.Endpoints, buildEndpoints(cn, insts, sub.Labels))
		}
		vh, err := buildVirtualHost(svc, idx.routes[ns+"/"+name], pol)
		if err != nil {
			return nil, err
		}
		rc.VirtualHosts = append(rc.VirtualHosts, vh)
	}
	snap.Routes = append(snap.Routes, rc)
	l, err := buildOutboundListener()
	if err != nil {
		return nil, err
	}
	snap.Listeners = append(snap.Listeners, l)
	// Every Service's inbound listener (sorted by Service, after the
	// outbound one), whatever the sidecar calls: its own Service is one of
	// them, and is not among the services it calls.
	for _, svc := range idx.services {
		il, err := buildInboundListener(svc, idx.authzFor(svc))
		if err != nil {
			return nil, err
		}
		snap.Listeners = append(snap.Listeners, il)
	}
	if s := trustBundleSecret(in.TrustBundle); s != nil {
		snap.Secrets = append(snap.Secrets, s)
	}
	sort.Slice(snap.Clusters, func(a, b int) bool { return snap.Clusters[a].Name < snap.Clusters[b].Name })
	sort.Slice(snap.Endpoints, func(a, b int) bool { return snap.Endpoints[a].ClusterName < snap.Endpoints[b].ClusterName })
	return snap, nil
}

type indexed struct {
	services  []*mesh.Service
	routes    map[string][]*mesh.HTTPRoute // by parent ns/name
	policies  map[string]*mesh.TrafficPolicy
	authz     []*mesh.AuthorizationPolicy
	byService map[string][]registry.Instance
}

func index(in Input) *indexed {
	idx := &indexed{routes: map[string][]*mesh.HTTPRoute{}, policies: map[string]*mesh.TrafficPolicy{}, byService: map[string][]registry.Instance{}}
	for _, r := range in.Resources {
		switch r := r.(type) {
		case *mesh.Service:
			idx.services = append(idx.services, r)
		case *mesh.HTTPRoute:
			for _, p := range r.Spec.ParentRefs {
				k := r.Metadata.Namespace + "/" + p.Name
				idx.routes[k] = append(idx.routes[k], r)
			}
		case *mesh.TrafficPolicy:
			idx.policies[r.Metadata.Namespace+"/"+r.Spec.TargetRef.Name] = r
		case *mesh.AuthorizationPolicy:
			idx.authz = append(idx.authz, r)
		}
	}
	sortAuthz(idx.authz)
	sort.Slice(idx.services, func(a, b int) bool { return mesh.Key(idx.services[a]) < mesh.Key(idx.services[b]) })
	for k := range idx.routes {
		rs := idx.routes[k]
		sort.Slice(rs, func(a, b int) bool { return mesh.Key(rs[a]) < mesh.Key(rs[b]) })
	}
	for _, in := range in.Instances {
		idx.byService[in.Service] = append(idx.byService[in.Service], in)
	}
	return idx
}

// instances are the registered instances of svc plus its static endpoints.
// Registry instances are keyed by service name in the default namespace
// until the registry learns namespaces.
func (idx *indexed) instances(svc *mesh.Service) []registry.Instance {
	out := append([]registry.Instance(nil), idx.byService[svc.Metadata.Name]...)
	for i, ep := range svc.Spec.Endpoints {
		out = append(out, registry.Instance{
			Service: svc.Metadata.Name, ID: fmt.Sprintf("static-%d", i), Address: ep.Address,
			Port: int(ep.Port), Labels: ep.Labels, Zone: ep.Zone, Ready: true,
		})
	}
	// A service outside the mesh known by DNS name is one endpoint whose
	// host the sidecar resolves when it connects (Envoy's LOGICAL_DNS), so
	// a changing DNS answer needs no push.
	if svc.Spec.DNS != "" && len(svc.Spec.Ports) > 0 {
		out = append(out, registry.Instance{
			Service: svc.Metadata.Name, ID: "dns", Address: svc.Spec.DNS, Port: int(svc.Spec.Ports[0].Port), Ready: true,
		})
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Endpoint() < out[b].Endpoint() })
	return out
}

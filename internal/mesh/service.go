package mesh

// Service is a mesh service: its ports, its subsets by label, and for
// services outside the mesh, static endpoints or a DNS name.
type Service struct {
	TypeMeta `json:",inline"`
	// Metadata names the Service; sidecars call it by that name
	// (catalog, catalog.NAMESPACE, catalog.NAMESPACE.svc[.cluster.local]).
	Metadata ObjectMeta `json:"metadata"`
	// Spec describes the Service.
	Spec ServiceSpec `json:"spec"`
	// Status is written by the control plane; ignored on apply.
	Status Status `json:"status,omitzero"`
}

// ServiceSpec describes a Service.
type ServiceSpec struct {
	// Ports the Service answers on. At least one. Requests may name a
	// port (catalog:80) or not; both reach the Service.
	Ports []ServicePort `json:"ports"`
	// Subsets select instances by label, so routes can split traffic by
	// version. Optional.
	Subsets []Subset `json:"subsets,omitempty"`
	// Endpoints declare instances by hand, for services that do not
	// register themselves. At most 1000; not with dns.
	Endpoints []StaticEndpoint `json:"endpoints,omitempty"`
	// DNS names a service outside the mesh; the sidecar resolves it when
	// it connects, on ports[0].port. Not with endpoints.
	DNS string `json:"dns,omitempty"`
	// MTLS sets how the Service's sidecars accept inbound connections
	// (Istio's PeerAuthentication). Optional; unset leaves each sidecar's
	// own bootstrap mode (inbound[].mtls, STRICT with an identity).
	MTLS *ServiceMTLS `json:"mtls,omitempty"`
}

// ServiceMTLS is a Service's inbound mTLS mode, pushed to its sidecars in
// their inbound listener; it wins over the sidecars' inbound[].mtls.
type ServiceMTLS struct {
	// Mode is STRICT (only mTLS: plaintext is closed unanswered) or
	// PERMISSIVE (mTLS and plaintext alike, for a migration; plaintext
	// callers are counted in weft_inbound_plaintext_connections_total).
	// Required. A sidecar without an identity cannot terminate mTLS and
	// rejects (NACKs) its Service's inbound listener while a mode is set.
	Mode string `json:"mode"`
}

// Service mTLS modes (spec.mtls.mode).
const (
	MTLSStrict     = "STRICT"
	MTLSPermissive = "PERMISSIVE"
)

// ServicePort is one port of a Service.
type ServicePort struct {
	// Name labels the port for people (e.g. http); a DNS-1123 label,
	// unique within the Service. Optional; Weft does not route by it.
	Name string `json:"name,omitempty"`
	// Port is the port number clients use, 1..65535. Required.
	Port int32 `json:"port"`
	// Protocol is what the Service speaks. http (the default) is HTTP of
	// any version: each request keeps the version its client used, so
	// HTTP/1.1 stays HTTP/1.1 end to end, and HTTP/2 and gRPC travel as
	// HTTP/2 between sidecars and reach the app as HTTP/2, or as HTTP/1.1
	// when the app turns out to speak only that (gRPC then fails with
	// UNAVAILABLE: it cannot be converted). http2 or grpc: every request
	// travels as multiplexed HTTP/2 between sidecars, HTTP/1.1 ones
	// included. tcp: opaque bytes, routed by port only. Default http.
	Protocol string `json:"protocol,omitempty"`
}

// Subset selects a service's instances by labels, e.g. version: v2.
type Subset struct {
	// Name is how backendRefs name the subset: a DNS-1123 label, unique
	// within the Service. Required.
	Name string `json:"name"`
	// Labels an instance must all carry to belong to the subset. At
	// least one.
	Labels map[string]string `json:"labels"`
}

// StaticEndpoint is an instance declared by hand rather than registered.
type StaticEndpoint struct {
	// Address is the instance's IP address or host name. Required.
	Address string `json:"address"`
	// Port is the instance's port, 1..65535. Required.
	Port int32 `json:"port"`
	// Labels place the endpoint in subsets. Optional.
	Labels map[string]string `json:"labels,omitempty"`
	// Zone is the endpoint's locality, for zone-aware balancing.
	// Optional.
	Zone string `json:"zone,omitempty"`
}

func (s *Service) GetTypeMeta() TypeMeta { return s.TypeMeta }
func (s *Service) GetMeta() *ObjectMeta  { return &s.Metadata }
func (s *Service) GetStatus() *Status    { return &s.Status }

// SetDefaults fills documented defaults.
func (s *Service) SetDefaults() {
	defaultMeta(&s.Metadata)
	for i := range s.Spec.Ports {
		if s.Spec.Ports[i].Protocol == "" {
			s.Spec.Ports[i].Protocol = "http"
		}
	}
}

// Validate reports every invalid field with its path.
func (s *Service) Validate() error {
	var v errs
	validateMeta(&v, &s.Metadata)
	if len(s.Spec.Ports) == 0 {
		v.add("spec.ports", "must list at least one port")
	}
	names := map[string]bool{}
	for i, p := range s.Spec.Ports {
		path := field("spec.ports", i)
		checkPort(&v, path+".port", p.Port)
		switch p.Protocol {
		case "http", "http2", "grpc", "tcp":
		default:
			v.add(path+".protocol", "must be one of http, http2, grpc, tcp; got %q", p.Protocol)
		}
		if p.Name != "" {
			if !dnsLabel(p.Name) {
				v.add(path+".name", "must be a DNS-1123 label; got %q", p.Name)
			}
			if names[p.Name] {
				v.add(path+".name", "duplicate port name %q", p.Name)
			}
			names[p.Name] = true
		}
	}
	subsets := map[string]bool{}
	for i, sub := range s.Spec.Subsets {
		path := field("spec.subsets", i)
		if !dnsLabel(sub.Name) {
			v.add(path+".name", "must be a DNS-1123 label; got %q", sub.Name)
		} else if subsets[sub.Name] {
			v.add(path+".name", "duplicate subset %q", sub.Name)
		}
		subsets[sub.Name] = true
		if len(sub.Labels) == 0 {
			v.add(path+".labels", "must select at least one label")
		}
	}
	if len(s.Spec.Endpoints) > 0 && s.Spec.DNS != "" {
		v.add("spec", "set at most one of endpoints and dns")
	}
	for i, ep := range s.Spec.Endpoints {
		path := field("spec.endpoints", i)
		if ep.Address == "" {
			v.add(path+".address", "must not be empty")
		}
		checkPort(&v, path+".port", ep.Port)
	}
	if s.Spec.DNS != "" && !dnsName(s.Spec.DNS) {
		v.add("spec.dns", "must be a DNS name; got %q", s.Spec.DNS)
	}
	if len(s.Spec.Endpoints) > maxList {
		v.add("spec.endpoints", "at most %d", maxList)
	}
	if m := s.Spec.MTLS; m != nil && m.Mode != MTLSStrict && m.Mode != MTLSPermissive {
		v.add("spec.mtls.mode", "must be STRICT or PERMISSIVE; got %q", m.Mode)
	}
	if s.Spec.MTLS != nil && s.Spec.DNS != "" {
		v.add("spec.mtls", "a service outside the mesh (dns) has no sidecars to set it on")
	}
	return v.err()
}

// HasSubset reports whether the service declares the named subset.
func (s *Service) HasSubset(name string) bool {
	for _, sub := range s.Spec.Subsets {
		if sub.Name == name {
			return true
		}
	}
	return false
}

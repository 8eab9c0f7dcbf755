package mesh

// Service is a mesh service: its ports, its subsets by label, and for
// services outside the mesh, static endpoints or a DNS name.
type Service struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta  `json:"metadata"`
	Spec     ServiceSpec `json:"spec"`
	Status   Status      `json:"status,omitzero"`
}

// ServiceSpec describes a Service.
type ServiceSpec struct {
	Ports     []ServicePort    `json:"ports"`
	Subsets   []Subset         `json:"subsets,omitempty"`
	Endpoints []StaticEndpoint `json:"endpoints,omitempty"`
	// DNS names a service outside the mesh, resolved by the sidecar.
	DNS string `json:"dns,omitempty"`
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name     string `json:"name,omitempty"`
	Port     int32  `json:"port"`
	Protocol string `json:"protocol,omitempty"` // http (default), http2, grpc, tcp
}

// Subset selects a service's instances by labels, e.g. version: v2.
type Subset struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// StaticEndpoint is an instance declared by hand rather than registered.
type StaticEndpoint struct {
	Address string            `json:"address"`
	Port    int32             `json:"port"`
	Labels  map[string]string `json:"labels,omitempty"`
	Zone    string            `json:"zone,omitempty"`
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

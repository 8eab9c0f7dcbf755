// Package mesh defines Weft's declarative resources in Kubernetes shape
// (apiVersion, kind, metadata, spec, status): Service, HTTPRoute (Gateway
// API GAMMA shape) and TrafficPolicy, with strict decoding, defaults and
// validation that names each bad field. It uses the standard library only;
// the CLI turns YAML into JSON before Decode.
package mesh

// APIVersion is the only version this package reads.
const APIVersion = "weft.dev/v1alpha1"

// Kinds.
const (
	KindService       = "Service"
	KindHTTPRoute     = "HTTPRoute"
	KindTrafficPolicy = "TrafficPolicy"
)

// ObjectMeta follows Kubernetes' metadata.
type ObjectMeta struct {
	// Name identifies the resource within its namespace: a DNS-1123 label
	// (lower case letters, digits and '-', at most 63 characters). Required.
	Name string `json:"name"`
	// Namespace groups resources; references resolve within it.
	// Default "default".
	Namespace string `json:"namespace,omitempty"`
	// Labels are free-form key/value pairs for people and tools; Weft
	// does not read them.
	Labels map[string]string `json:"labels,omitempty"`
	// Annotations are free-form key/value pairs for people and tools;
	// Weft does not read them.
	Annotations map[string]string `json:"annotations,omitempty"`
	// ResourceVersion is the config revision that last changed the
	// resource. Set by the control plane; ignored on apply.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Generation counts the changes to the resource's spec. Set by the
	// control plane; ignored on apply.
	Generation int64 `json:"generation,omitempty"`
}

// TypeMeta names a resource's kind and version.
type TypeMeta struct {
	// APIVersion must be weft.dev/v1alpha1.
	APIVersion string `json:"apiVersion"`
	// Kind is Service, HTTPRoute, TrafficPolicy or AuthorizationPolicy.
	Kind string `json:"kind"`
}

// Condition is one status condition, as in Kubernetes.
type Condition struct {
	// Type names what the condition reports: Accepted, ResolvedRefs,
	// Conflicted or Programmed.
	Type string `json:"type"`
	// Status is True, False or Unknown.
	Status string `json:"status"`
	// Reason is a short CamelCase cause, e.g. BackendNotFound.
	Reason string `json:"reason,omitempty"`
	// Message says the cause in words, naming the field at fault.
	Message string `json:"message,omitempty"`
}

// Status is the part of a resource the control plane writes.
type Status struct {
	// ObservedGeneration is the generation the conditions describe.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions say whether the resource is in force, and if not, why.
	Conditions []Condition `json:"conditions,omitempty"`
}

// Resource is any decoded resource.
type Resource interface {
	GetTypeMeta() TypeMeta
	GetMeta() *ObjectMeta
	GetStatus() *Status
	SetDefaults()
	Validate() error
}

// Key identifies a resource: kind/namespace/name.
func Key(r Resource) string {
	m := r.GetMeta()
	return r.GetTypeMeta().Kind + "/" + m.Namespace + "/" + m.Name
}

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
	Name            string            `json:"name"`
	Namespace       string            `json:"namespace,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	Annotations     map[string]string `json:"annotations,omitempty"`
	ResourceVersion string            `json:"resourceVersion,omitempty"`
	Generation      int64             `json:"generation,omitempty"`
}

// TypeMeta names a resource's kind and version.
type TypeMeta struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
}

// Condition is one status condition, as in Kubernetes.
type Condition struct {
	Type    string `json:"type"`   // Accepted, Programmed, ...
	Status  string `json:"status"` // True, False, Unknown
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Status is the part of a resource the control plane writes.
type Status struct {
	ObservedGeneration int64       `json:"observedGeneration,omitempty"`
	Conditions         []Condition `json:"conditions,omitempty"`
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

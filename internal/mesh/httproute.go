package mesh

import (
	"regexp"
)

// HTTPRoute steers HTTP traffic addressed to a Service, in the shape of
// Gateway API's HTTPRoute as GAMMA uses it: parentRefs name Services.
type HTTPRoute struct {
	TypeMeta `json:",inline"`
	Metadata ObjectMeta    `json:"metadata"`
	Spec     HTTPRouteSpec `json:"spec"`
	Status   Status        `json:"status,omitzero"`
}

// HTTPRouteSpec follows gateway.networking.k8s.io/v1 HTTPRouteSpec.
type HTTPRouteSpec struct {
	ParentRefs []ParentRef     `json:"parentRefs"`
	Hostnames  []string        `json:"hostnames,omitempty"`
	Rules      []HTTPRouteRule `json:"rules"`
}

// ParentRef names the Service whose traffic the route steers.
type ParentRef struct {
	Group string `json:"group,omitempty"`
	Kind  string `json:"kind,omitempty"` // Service (default)
	Name  string `json:"name"`
	Port  int32  `json:"port,omitempty"`
}

// HTTPRouteRule is matches, filters and weighted backends.
type HTTPRouteRule struct {
	Name        string           `json:"name,omitempty"`
	Matches     []HTTPRouteMatch `json:"matches,omitempty"`
	Filters     []HTTPFilter     `json:"filters,omitempty"`
	BackendRefs []BackendRef     `json:"backendRefs"`
	Timeouts    *HTTPTimeouts    `json:"timeouts,omitempty"`
}

// HTTPRouteMatch is one match; a rule matches when any of its matches does.
type HTTPRouteMatch struct {
	Path        *PathMatch   `json:"path,omitempty"`
	Headers     []ValueMatch `json:"headers,omitempty"`
	QueryParams []ValueMatch `json:"queryParams,omitempty"`
	Method      string       `json:"method,omitempty"`
}

// PathMatch types are PathPrefix (default), Exact and RegularExpression.
type PathMatch struct {
	Type  string `json:"type,omitempty"`
	Value string `json:"value,omitempty"`
}

// ValueMatch types are Exact (default) and RegularExpression.
type ValueMatch struct {
	Type  string `json:"type,omitempty"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// HTTPFilter is accepted now and validated by kind as filters land
// (RequestHeaderModifier, RequestMirror, fault injection, ...).
type HTTPFilter struct {
	Type string         `json:"type"`
	Raw  map[string]any `json:"-"`
}

// BackendRef is a weighted destination. Subset is a Weft extension:
// Gateway API has no subsets (GAMMA splits versions into Services), but
// version routing by label is what operators of Istio expect, so a
// backendRef may name one of the Service's subsets.
type BackendRef struct {
	Group  string `json:"group,omitempty"`
	Kind   string `json:"kind,omitempty"` // Service (default)
	Name   string `json:"name"`
	Port   int32  `json:"port,omitempty"`
	Weight *int32 `json:"weight,omitempty"` // default 1
	Subset string `json:"subset,omitempty"`
}

// HTTPTimeouts follows Gateway API: durations such as "10s" or "500ms".
type HTTPTimeouts struct {
	Request        string `json:"request,omitempty"`
	BackendRequest string `json:"backendRequest,omitempty"`
}

func (r *HTTPRoute) GetTypeMeta() TypeMeta { return r.TypeMeta }
func (r *HTTPRoute) GetMeta() *ObjectMeta  { return &r.Metadata }
func (r *HTTPRoute) GetStatus() *Status    { return &r.Status }

// SetDefaults fills Gateway API's defaults.
func (r *HTTPRoute) SetDefaults() {
	defaultMeta(&r.Metadata)
	for i := range r.Spec.ParentRefs {
		if r.Spec.ParentRefs[i].Kind == "" {
			r.Spec.ParentRefs[i].Kind = KindService
		}
	}
	for i := range r.Spec.Rules {
		rule := &r.Spec.Rules[i]
		if len(rule.Matches) == 0 {
			rule.Matches = []HTTPRouteMatch{{}}
		}
		for j := range rule.Matches {
			m := &rule.Matches[j]
			if m.Path == nil {
				m.Path = &PathMatch{}
			}
			if m.Path.Type == "" {
				m.Path.Type = "PathPrefix"
			}
			if m.Path.Value == "" {
				m.Path.Value = "/"
			}
			for k := range m.Headers {
				if m.Headers[k].Type == "" {
					m.Headers[k].Type = "Exact"
				}
			}
			for k := range m.QueryParams {
				if m.QueryParams[k].Type == "" {
					m.QueryParams[k].Type = "Exact"
				}
			}
		}
		for j := range rule.BackendRefs {
			b := &rule.BackendRefs[j]
			if b.Kind == "" {
				b.Kind = KindService
			}
			if b.Weight == nil {
				one := int32(1)
				b.Weight = &one
			}
		}
	}
}

var methods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true, "CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true}

// Validate reports every invalid field with its path.
func (r *HTTPRoute) Validate() error {
	var v errs
	validateMeta(&v, &r.Metadata)
	if len(r.Spec.ParentRefs) == 0 {
		v.add("spec.parentRefs", "must name at least one Service")
	}
	for i, p := range r.Spec.ParentRefs {
		path := field("spec.parentRefs", i)
		if p.Kind != KindService {
			v.add(path+".kind", "must be Service (GAMMA); got %q", p.Kind)
		}
		if !dnsLabel(p.Name) {
			v.add(path+".name", "must be a DNS-1123 label; got %q", p.Name)
		}
		if p.Port != 0 {
			checkPort(&v, path+".port", p.Port)
		}
	}
	for i, h := range r.Spec.Hostnames {
		if !dnsName(h) {
			v.add(field("spec.hostnames", i), "must be a DNS name; got %q", h)
		}
	}
	if len(r.Spec.Rules) == 0 {
		v.add("spec.rules", "must have at least one rule")
	}
	if len(r.Spec.Rules) > maxList {
		v.add("spec.rules", "at most %d", maxList)
	}
	for i, rule := range r.Spec.Rules {
		validateRule(&v, field("spec.rules", i), &rule)
	}
	return v.err()
}

func validateRule(v *errs, path string, rule *HTTPRouteRule) {
	for j, m := range rule.Matches {
		mp := field(path+".matches", j)
		if m.Path != nil {
			switch m.Path.Type {
			case "PathPrefix", "Exact":
				if len(m.Path.Value) == 0 || m.Path.Value[0] != '/' {
					v.add(mp+".path.value", "must start with /")
				}
			case "RegularExpression":
				checkRegex(v, mp+".path.value", m.Path.Value)
			default:
				v.add(mp+".path.type", "must be PathPrefix, Exact or RegularExpression; got %q", m.Path.Type)
			}
		}
		if m.Method != "" && !methods[m.Method] {
			v.add(mp+".method", "unknown method %q", m.Method)
		}
		for k, h := range m.Headers {
			validateValueMatch(v, field(mp+".headers", k), h)
		}
		for k, q := range m.QueryParams {
			validateValueMatch(v, field(mp+".queryParams", k), q)
		}
	}
	for j, f := range rule.Filters {
		if f.Type == "" {
			v.add(field(path+".filters", j)+".type", "must not be empty")
		}
	}
	if len(rule.BackendRefs) == 0 {
		v.add(path+".backendRefs", "must name at least one backend")
	}
	var total int64
	for j, b := range rule.BackendRefs {
		bp := field(path+".backendRefs", j)
		if b.Kind != KindService {
			v.add(bp+".kind", "must be Service; got %q", b.Kind)
		}
		if !dnsLabel(b.Name) {
			v.add(bp+".name", "must be a DNS-1123 label; got %q", b.Name)
		}
		if b.Port != 0 {
			checkPort(v, bp+".port", b.Port)
		}
		if b.Weight != nil {
			if *b.Weight < 0 {
				v.add(bp+".weight", "must be >= 0")
			} else if *b.Weight > 1_000_000 {
				v.add(bp+".weight", "must be <= 1000000")
			}
			total += int64(*b.Weight)
		}
		if b.Subset != "" && !dnsLabel(b.Subset) {
			v.add(bp+".subset", "must be a DNS-1123 label; got %q", b.Subset)
		}
	}
	if len(rule.BackendRefs) > 1 && total == 0 {
		v.add(path+".backendRefs", "weights must not all be 0")
	}
	if t := rule.Timeouts; t != nil {
		checkDuration(v, path+".timeouts.request", t.Request)
		checkDuration(v, path+".timeouts.backendRequest", t.BackendRequest)
	}
}

func validateValueMatch(v *errs, path string, m ValueMatch) {
	if m.Name == "" {
		v.add(path+".name", "must not be empty")
	}
	switch m.Type {
	case "Exact":
	case "RegularExpression":
		checkRegex(v, path+".value", m.Value)
	default:
		v.add(path+".type", "must be Exact or RegularExpression; got %q", m.Type)
	}
}

// maxRegex bounds route regexes; RE2 matching is linear in the input, so
// this bounds the per-request cost (CVE-2019-14993 class).
const maxRegex = 1024

func checkRegex(v *errs, path, re string) {
	if len(re) > maxRegex {
		v.add(path, "regex longer than %d bytes", maxRegex)
		return
	}
	if _, err := regexp.Compile(re); err != nil {
		v.add(path, "invalid regex: %v", err)
	}
}

package mesh

import (
	"regexp"
	"time"
)

// HTTPRoute steers HTTP traffic addressed to a Service, in the shape of
// Gateway API's HTTPRoute as GAMMA uses it: parentRefs name Services.
type HTTPRoute struct {
	TypeMeta `json:",inline"`
	// Metadata names the route; it names the generated routes too.
	Metadata ObjectMeta `json:"metadata"`
	// Spec is the route.
	Spec HTTPRouteSpec `json:"spec"`
	// Status is written by the control plane; ignored on apply.
	Status Status `json:"status,omitzero"`
}

// HTTPRouteSpec follows gateway.networking.k8s.io/v1 HTTPRouteSpec.
type HTTPRouteSpec struct {
	// ParentRefs name the Services whose traffic the route steers. At
	// least one.
	ParentRefs []ParentRef `json:"parentRefs"`
	// Hostnames are extra authorities (DNS names, optionally *.wildcard)
	// that reach the parent Services besides their own names. Optional.
	Hostnames []string `json:"hostnames,omitempty"`
	// Rules are tried in order; the first that matches a request picks its
	// backend. Requests no rule matches go to the parent Service itself.
	// 1 to 1000.
	Rules []HTTPRouteRule `json:"rules"`
}

// ParentRef names the Service whose traffic the route steers.
type ParentRef struct {
	// Group must be empty (the core group, where Service lives).
	Group string `json:"group,omitempty"`
	// Kind must be Service (GAMMA). Default Service.
	Kind string `json:"kind,omitempty"`
	// Name is the Service, in the route's namespace. Required.
	Name string `json:"name"`
	// Port would attach the route to one port of the Service. Not
	// supported yet: a route applies to every port.
	Port int32 `json:"port,omitempty"`
}

// HTTPRouteRule is matches, filters and weighted backends.
type HTTPRouteRule struct {
	// Name names the rule in the generated route names, metrics and logs.
	// Optional; default rule-INDEX.
	Name string `json:"name,omitempty"`
	// Matches: the rule applies when any of them matches. Default one
	// match of every request (path prefix /).
	Matches []HTTPRouteMatch `json:"matches,omitempty"`
	// Filters act on the requests the rule matches before they are
	// forwarded: Gateway API's RequestHeaderModifier,
	// ResponseHeaderModifier, URLRewrite, RequestRedirect and
	// RequestMirror, and Weft's Fault (fault injection) and RateLimit (a
	// local token bucket), at most one of each type; the rate limit is
	// checked first, then the fault, then the redirect. URLRewrite and
	// RequestRedirect exclude each other. Optional.
	Filters []HTTPFilter `json:"filters,omitempty"`
	// BackendRefs are where matching requests go, split by weight. At
	// least one, except in a rule with a RequestRedirect filter, which
	// has none (the redirect answers every request).
	BackendRefs []BackendRef `json:"backendRefs,omitempty"`
	// Timeouts bound the requests the rule matches. Optional.
	Timeouts *HTTPTimeouts `json:"timeouts,omitempty"`
	// Retry overrides, field by field, the retries its parent Service's
	// TrafficPolicy sets (Gateway API GEP-1731). Optional.
	Retry *HTTPRouteRetry `json:"retry,omitempty"`
}

// HTTPRouteMatch is one match; a rule matches when any of its matches does.
// All of a match's conditions must hold.
type HTTPRouteMatch struct {
	// Path matches the request path. Default prefix /.
	Path *PathMatch `json:"path,omitempty"`
	// Headers must all match. Optional.
	Headers []ValueMatch `json:"headers,omitempty"`
	// QueryParams must all match. Optional.
	QueryParams []ValueMatch `json:"queryParams,omitempty"`
	// Method matches the request method (GET, POST, ...). Optional.
	Method string `json:"method,omitempty"`
}

// PathMatch matches the request path.
type PathMatch struct {
	// Type is PathPrefix (whole segments: /api matches /api/x, not
	// /apix), Exact or RegularExpression (RE2, at most 1024 bytes).
	// Default PathPrefix.
	Type string `json:"type,omitempty"`
	// Value is the path or the regex; paths start with /. Default /.
	Value string `json:"value,omitempty"`
}

// ValueMatch matches one header or query parameter.
type ValueMatch struct {
	// Type is Exact or RegularExpression (RE2, at most 1024 bytes).
	// Default Exact.
	Type string `json:"type,omitempty"`
	// Name is the header (case-insensitive) or query parameter. Required.
	Name string `json:"name"`
	// Value is the value or the regex to match.
	Value string `json:"value"`
}

// HTTPFilter is one filter of a rule, in Gateway API's shape: a type and
// the configuration field that type names. Weft implements Gateway API's
// RequestHeaderModifier, ResponseHeaderModifier, URLRewrite,
// RequestRedirect and RequestMirror, and the types Fault
// and RateLimit (its own: Gateway API has no core fault or rate-limit
// filter); any other type is refused, named in the error.
type HTTPFilter struct {
	// Type is the filter kind: Fault, RateLimit, RequestHeaderModifier,
	// ResponseHeaderModifier, URLRewrite, RequestRedirect or
	// RequestMirror. Required.
	Type string `json:"type"`
	// Fault configures a filter of type Fault. Required with that type.
	Fault *FaultFilter `json:"fault,omitempty"`
	// RateLimit configures a filter of type RateLimit: one token bucket
	// per rule, in each client sidecar. Required with that type.
	RateLimit *RateLimit `json:"rateLimit,omitempty"`
	// RequestHeaderModifier edits the request's headers before it is
	// forwarded. Required with type RequestHeaderModifier.
	RequestHeaderModifier *HeaderModifier `json:"requestHeaderModifier,omitempty"`
	// ResponseHeaderModifier edits the upstream response's headers before
	// they reach the caller. Required with type ResponseHeaderModifier.
	ResponseHeaderModifier *HeaderModifier `json:"responseHeaderModifier,omitempty"`
	// URLRewrite changes the forwarded request's Host and path. Required
	// with type URLRewrite.
	URLRewrite *URLRewrite `json:"urlRewrite,omitempty"`
	// RequestRedirect answers the request with a redirect made by the
	// sidecar. Required with type RequestRedirect.
	RequestRedirect *RequestRedirect `json:"requestRedirect,omitempty"`
	// RequestMirror sends a copy of a share of requests to another
	// Service. Required with type RequestMirror.
	RequestMirror *RequestMirror `json:"requestMirror,omitempty"`
	// Raw holds the configuration of filter types Weft does not implement,
	// as given, so the refusal can name them.
	Raw map[string]any `json:"-"`
}

// BackendRef is a weighted destination. Subset is a Weft extension:
// Gateway API has no subsets (GAMMA splits versions into Services), but
// version routing by label is what operators of Istio expect, so a
// backendRef may name one of the Service's subsets.
type BackendRef struct {
	// Group must be empty (the core group, where Service lives).
	Group string `json:"group,omitempty"`
	// Kind must be Service. Default Service.
	Kind string `json:"kind,omitempty"`
	// Name is the Service, in the route's namespace. Required; a Service
	// that does not exist sets ResolvedRefs=False (BackendNotFound).
	Name string `json:"name"`
	// Port would pick a port of the Service. Not supported yet: the
	// sidecar reaches each instance on the port it registered.
	Port int32 `json:"port,omitempty"`
	// Weight is this backend's share of the rule's requests, relative to
	// the other backends' weights, 0..1000000. Default 1.
	Weight *int32 `json:"weight,omitempty"`
	// Subset narrows the backend to one of the Service's subsets.
	// Optional.
	Subset string `json:"subset,omitempty"`
}

// HTTPTimeouts follows Gateway API: durations such as "10s" or "500ms".
type HTTPTimeouts struct {
	// Request bounds the whole request, from the first byte received to
	// the last byte of the response sent; 504 beyond. Default the
	// sidecar's limits.requestTimeout (15s).
	Request string `json:"request,omitempty"`
	// BackendRequest bounds each try, from sending it to the response
	// head; a try past it is retried as a gateway error (when retries
	// allow) or answered 504 (flag UT). At most request when both are
	// set. Default the TrafficPolicy's retries.perTryTimeout, else none.
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
		for j := range rule.Filters {
			defaultFilter(&rule.Filters[j])
			defaultURLFilters(&rule.Filters[j])
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
		if p.Group != "" {
			v.add(path+".group", "must be empty (the core group of Service); got %q", p.Group)
		}
		if p.Kind != KindService {
			v.add(path+".kind", "must be Service (GAMMA); got %q", p.Kind)
		}
		if !dnsLabel(p.Name) {
			v.add(path+".name", "must be a DNS-1123 label; got %q", p.Name)
		}
		if p.Port != 0 {
			v.unsupported(path+".port", "a route applies to every port of the Service")
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
	validateFilters(v, path+".filters", rule.Filters, rule.Matches)
	redirects := hasFilter(rule.Filters, FilterRequestRedirect)
	switch {
	case redirects && len(rule.BackendRefs) > 0:
		v.add(path+".backendRefs", "must be empty in a rule with a RequestRedirect filter (the redirect answers every request)")
	case !redirects && len(rule.BackendRefs) == 0:
		v.add(path+".backendRefs", "must name at least one backend")
	}
	var total int64
	for j, b := range rule.BackendRefs {
		bp := field(path+".backendRefs", j)
		if b.Group != "" {
			v.add(bp+".group", "must be empty (the core group of Service); got %q", b.Group)
		}
		if b.Kind != KindService {
			v.add(bp+".kind", "must be Service; got %q", b.Kind)
		}
		if !dnsLabel(b.Name) {
			v.add(bp+".name", "must be a DNS-1123 label; got %q", b.Name)
		}
		if b.Port != 0 {
			v.unsupported(bp+".port", "the sidecar reaches each instance on the port it registered")
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
		req, err1 := time.ParseDuration(t.Request)
		be, err2 := time.ParseDuration(t.BackendRequest)
		if err1 == nil && err2 == nil && be > req {
			v.add(path+".timeouts.backendRequest", "must not exceed timeouts.request (%s); got %s", t.Request, t.BackendRequest)
		}
	}
	if r := rule.Retry; r != nil {
		validateRouteRetry(v, path+".retry", r)
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

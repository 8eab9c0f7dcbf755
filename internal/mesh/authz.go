package mesh

// KindAuthorizationPolicy is the kind of AuthorizationPolicy.
const KindAuthorizationPolicy = "AuthorizationPolicy"

// AuthorizationPolicy says which callers may reach a Service, in the shape
// of Istio's AuthorizationPolicy. The destination's sidecar enforces it on
// every inbound request, after the same normalisation routing uses. The
// caller is the verified SPIFFE ID of its mTLS certificate, never a header.
//
// Evaluation, as in Istio: a request that matches a rule of any DENY
// policy is denied (DENY beats ALLOW); otherwise, if any ALLOW policy
// applies to the Service, the request must match a rule of one of them;
// with no ALLOW policy it is allowed. An ALLOW policy with no rules
// matches nothing, so it is the default-deny switch: applied to a Service
// (targetRef) the Service accepts nothing until another ALLOW policy
// allows it; without targetRef it does so for every Service of the mesh.
type AuthorizationPolicy struct {
	TypeMeta `json:",inline"`
	// Metadata names the policy; its namespace is the namespace of the
	// Service it targets.
	Metadata ObjectMeta `json:"metadata"`
	// Spec is the policy.
	Spec AuthorizationPolicySpec `json:"spec"`
	// Status is written by the control plane; ignored on apply.
	Status Status `json:"status,omitzero"`
}

// AuthorizationPolicySpec describes an AuthorizationPolicy.
type AuthorizationPolicySpec struct {
	// TargetRef names the destination Service the policy governs, in the
	// policy's namespace. Omitted: the policy governs every Service in the
	// mesh (a mesh-wide policy).
	TargetRef *TargetRef `json:"targetRef,omitempty"`
	// Action is ALLOW or DENY. Default ALLOW.
	Action string `json:"action,omitempty"`
	// Rules are alternatives: the policy matches a request when any rule
	// does. An ALLOW policy with no rules matches nothing (deny all until
	// something else allows); a DENY policy needs at least one rule.
	// At most 100 rules.
	Rules []AuthorizationRule `json:"rules,omitempty"`
}

// AuthorizationRule matches a request when its from, to and when parts
// all match; an omitted part matches every request.
type AuthorizationRule struct {
	// From lists alternative callers: the rule matches a request from any
	// of them. Omitted: any caller, authenticated or not.
	From []AuthorizationFrom `json:"from,omitempty"`
	// To lists alternative operations: the rule matches a request for any
	// of them. Omitted: any operation.
	To []AuthorizationTo `json:"to,omitempty"`
	// When lists conditions on the request that must all hold.
	When []AuthorizationCondition `json:"when,omitempty"`
}

// AuthorizationFrom wraps one source, as Istio's rule.from does.
type AuthorizationFrom struct {
	// Source is the caller. Required.
	Source AuthorizationSource `json:"source"`
}

// AuthorizationSource matches the caller by the SPIFFE ID of its verified
// mTLS client certificate. Set fields must all match; each list matches
// when any of its entries does. A plaintext caller has no identity and
// matches neither field.
type AuthorizationSource struct {
	// Principals are SPIFFE IDs: exact ("spiffe://weft.local/ns/shop/sa/web"),
	// a prefix ending in "*" ("spiffe://weft.local/ns/shop/*"), a suffix
	// starting with "*" ("*/sa/web"), or "*" for any authenticated caller.
	// Istio's form without the scheme ("weft.local/ns/shop/sa/web") means
	// the same.
	Principals []string `json:"principals,omitempty"`
	// Namespaces are the callers' namespaces, each an exact DNS label: the
	// "ns" segment of a spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT ID.
	Namespaces []string `json:"namespaces,omitempty"`
}

// AuthorizationTo wraps one operation, as Istio's rule.to does.
type AuthorizationTo struct {
	// Operation is the request's target. Required.
	Operation AuthorizationOperation `json:"operation"`
}

// AuthorizationOperation matches what the request asks for. Set fields
// must all match; each list matches when any of its entries does.
type AuthorizationOperation struct {
	// Hosts match the request's host as routing sees it: lowercase, port
	// and trailing dot removed. Exact ("catalog.shop") or a leading
	// wildcard ("*.shop"). Compared case-insensitively.
	Hosts []string `json:"hosts,omitempty"`
	// Methods are HTTP methods in upper case ("GET"); gRPC calls are POST.
	Methods []string `json:"methods,omitempty"`
	// Paths match the normalised path (percent-decoded unreserved bytes,
	// dot segments removed, slashes merged; no query): exact ("/admin"),
	// a prefix ending in "*" ("/admin/*"), a suffix starting with "*"
	// ("*.json"), or "*". Each must already be in normal form. In a DENY
	// policy paths are compared case-insensitively, so /ADMIN is denied
	// with /admin even by an app that ignores case; in an ALLOW policy
	// they are compared exactly, so nothing extra is allowed.
	Paths []string `json:"paths,omitempty"`
	// Ports are the destination ports: the sidecar's inbound port the
	// request arrived on, 1..65535.
	Ports []int32 `json:"ports,omitempty"`
}

// AuthorizationCondition is one condition on the request.
type AuthorizationCondition struct {
	// Key names what is compared: request.headers[NAME] (a request
	// header, NAME case-insensitive). Required.
	Key string `json:"key"`
	// Values are alternatives: exact, a prefix ending in "*", a suffix
	// starting with "*", or "*" for "present". Required.
	Values []string `json:"values"`
}

// Authorization actions.
const (
	ActionAllow = "ALLOW"
	ActionDeny  = "DENY"
)

// maxAuthzRules caps rules per policy and entries per list in a rule.
const maxAuthzRules = 100

func (p *AuthorizationPolicy) GetTypeMeta() TypeMeta { return p.TypeMeta }
func (p *AuthorizationPolicy) GetMeta() *ObjectMeta  { return &p.Metadata }
func (p *AuthorizationPolicy) GetStatus() *Status    { return &p.Status }

// SetDefaults fills in the namespace, the target's kind and the action.
func (p *AuthorizationPolicy) SetDefaults() {
	defaultMeta(&p.Metadata)
	if p.Spec.TargetRef != nil && p.Spec.TargetRef.Kind == "" {
		p.Spec.TargetRef.Kind = KindService
	}
	if p.Spec.Action == "" {
		p.Spec.Action = ActionAllow
	}
}

// Validate reports every invalid field with its path.
func (p *AuthorizationPolicy) Validate() error {
	var v errs
	validateMeta(&v, &p.Metadata)
	s := &p.Spec
	if t := s.TargetRef; t != nil {
		if t.Kind != KindService {
			v.add("spec.targetRef.kind", "must be Service; got %q", t.Kind)
		}
		if !dnsLabel(t.Name) {
			v.add("spec.targetRef.name", "must name a Service (a DNS-1123 label); got %q", t.Name)
		}
	}
	switch s.Action {
	case ActionAllow:
	case ActionDeny:
		if len(s.Rules) == 0 {
			v.add("spec.rules", "a DENY policy needs at least one rule: with none it would deny nothing")
		}
	default:
		v.add("spec.action", "must be ALLOW or DENY; got %q", s.Action)
	}
	if len(s.Rules) > maxAuthzRules {
		v.add("spec.rules", "at most %d rules; got %d", maxAuthzRules, len(s.Rules))
	}
	for i := range s.Rules {
		validateAuthzRule(&v, field("spec.rules", i), &s.Rules[i])
	}
	return v.err()
}

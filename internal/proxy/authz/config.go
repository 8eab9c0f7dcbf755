// Package authz is the inbound authorization filter: an immutable table
// compiled from Envoy's RBAC HTTP filter model (policies of principals and
// permissions, one action per filter) and evaluated on each inbound request
// after the normalisation routing uses. The caller is the verified SPIFFE
// ID of its mTLS certificate (proxy.PeerID), never a header.
package authz

// Action is what a Filter does with a request that matches one of its
// policies (Envoy's RBAC.Action).
type Action uint8

const (
	// Allow lets a request through only when it matches a policy.
	Allow Action = iota
	// Deny refuses a request that matches a policy.
	Deny
)

func (a Action) String() string {
	if a == Deny {
		return "DENY"
	}
	return "ALLOW"
}

// Config is the input to Compile: the RBAC filters of an inbound listener,
// in the order they run. The request must pass every filter.
type Config struct {
	Filters []Filter
}

// Filter is one RBAC filter (envoy.extensions.filters.http.rbac.v3.RBAC).
type Filter struct {
	Action Action
	// Policies are tried in order; the first that matches decides. An
	// Allow filter with none denies everything (Envoy's rule).
	Policies []Policy
}

// Policy matches a request when any permission and any principal match.
type Policy struct {
	// Name identifies the policy in decisions, explain and the
	// weft_authz_denied_total{policy} label.
	Name        string
	Permissions []Permission
	Principals  []Principal
}

// Permission matches what the request asks for. Exactly one field is set.
type Permission struct {
	Any    bool
	And    []Permission
	Or     []Permission
	Not    *Permission
	Header *HeaderMatch
	// Path matches the normalised path (no query).
	Path *StringMatch
	// Port matches the inbound port the request arrived on.
	Port uint32
}

// Principal matches who sends the request. Exactly one field is set.
type Principal struct {
	Any bool
	And []Principal
	Or  []Principal
	Not *Principal
	// Authenticated matches the peer's SPIFFE ID; a nil Name matches any
	// authenticated peer.
	Authenticated *Authenticated
}

// Authenticated is Envoy's Principal.Authenticated.
type Authenticated struct {
	Name *StringMatch
}

// MatchKind says how a StringMatch compares.
type MatchKind uint8

const (
	Exact MatchKind = iota
	Prefix
	Suffix
	Contains
	Regex
)

// StringMatch is Envoy's StringMatcher.
type StringMatch struct {
	Kind       MatchKind
	Value      string
	IgnoreCase bool
}

// HeaderMatch matches one request header. ":method" and ":authority" are
// the request's method and normalised host; other names are looked up
// case-insensitively. Exactly one of Match and Present is used.
type HeaderMatch struct {
	Name    string
	Match   *StringMatch // nil: Present
	Present bool
	Invert  bool
}

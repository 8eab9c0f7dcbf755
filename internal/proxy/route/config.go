// Package route compiles declarative routing rules into an immutable table that
// the request path reads without locks: host -> virtual host -> first matching
// route -> weighted backend clusters.
package route

import (
	"time"

	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
	"github.com/weft-mesh/weft/internal/proxy/retry"
)

// Config is the input to Compile. The sidecar fills it from a static file or
// from xDS (RDS); the proxy never sees either format.
type Config struct {
	VirtualHosts []VirtualHost
}

// VirtualHost groups the routes served for a set of authorities.
type VirtualHost struct {
	Name string
	// Domains are matched against the normalised request host (lowercase, no
	// port, no trailing dot). An entry may be exact ("catalog"), a leading
	// wildcard ("*.example.com") or "*" for any host.
	Domains []string
	// Routes are tried in order; the first match wins (Envoy/Gateway API order).
	Routes []Route
	// RateLimit is one token bucket shared by every route of the host that
	// has none of its own (a per-service limit); nil means none.
	RateLimit *ratelimit.Config
}

// Route is one rule: a match and what to do with matching requests.
type Route struct {
	Name     string
	Match    Match
	Backends []Backend
	// Timeout bounds the whole request, including retries. Zero means the
	// proxy default (15s).
	Timeout time.Duration
	// MissingClusterStatus answers requests whose picked backend names a
	// cluster that does not exist, with the flag NC: 500 for a backendRef
	// the control plane found invalid (Gateway API), as Envoy's
	// cluster_not_found_response_code. Zero means 503, Envoy's default.
	MissingClusterStatus int
	// Retry is the route's retry policy. Nil means retry.Default: a
	// connect failure is retried once on another endpoint.
	Retry *retry.Policy
	// Fault delays or aborts a share of the route's requests; nil means
	// none.
	Fault *fault.Config
	// RateLimit is the route's own token bucket; nil means the virtual
	// host's, if it has one.
	RateLimit *ratelimit.Config
	// RequestHeaders edits the request's headers before it is forwarded;
	// nil means none.
	RequestHeaders *HeaderMods
	// ResponseHeaders edits the upstream response's headers before they
	// reach the client; nil means none.
	ResponseHeaders *HeaderMods
	// Rewrite changes the forwarded request's Host and path (Gateway
	// API's URLRewrite); nil means none.
	Rewrite *Rewrite `json:",omitempty"`
	// Redirect answers every request with a redirect the proxy makes
	// (Gateway API's RequestRedirect); such a route has no Backends.
	Redirect *Redirect `json:",omitempty"`
	// Mirrors send copies of a share of the route's requests to other
	// clusters, responses discarded (Gateway API's RequestMirror).
	Mirrors []Mirror `json:",omitempty"`

	cum    []uint64          // cumulative backend weights, set by Compile
	bucket *ratelimit.Bucket // the bucket in force, set by Compile
}

// MissingStatus is the status for a backend whose cluster does not exist.
func (r *Route) MissingStatus() int {
	if r.MissingClusterStatus == 0 {
		return 503
	}
	return r.MissingClusterStatus
}

// PathMatchKind says how Match.Path.Value is compared.
type PathMatchKind uint8

const (
	PathPrefix PathMatchKind = iota // segment-aware prefix, the Gateway API default
	PathExact
	PathRegex // RE2 syntax, anchored at both ends
)

// PathMatch matches the normalised request path (query excluded).
type PathMatch struct {
	Kind  PathMatchKind
	Value string // "" with PathPrefix matches everything
}

// StringMatchKind says how a header or query value is compared.
type StringMatchKind uint8

const (
	MatchExact StringMatchKind = iota
	MatchRegex
	MatchPresent
)

// HeaderMatch matches one request header (name compared case-insensitively).
type HeaderMatch struct {
	Name   string
	Kind   StringMatchKind
	Value  string
	Invert bool
}

// QueryMatch matches one query parameter.
type QueryMatch struct {
	Name  string
	Kind  StringMatchKind
	Value string
}

// Match is the conjunction of all its non-empty parts.
type Match struct {
	Path    PathMatch
	Method  string // "" matches any method
	Headers []HeaderMatch
	Query   []QueryMatch
}

// Backend is one weighted destination cluster of a route.
type Backend struct {
	Cluster string
	Weight  uint32 // relative; a single backend may leave it 0
}

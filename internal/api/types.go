// Package api holds the wire types of the control plane's admin API: JSON
// over HTTP, serving the CLI, the sidecars' registration and, later, the
// dashboard. It is a leaf (standard library only), so the sidecar can speak
// the API without linking the control plane: api/server is the handler,
// api/client the typed client.
package api

import (
	"encoding/json"
	"strings"
	"time"
)

// Version prefixes every path.
const Version = "/v1"

// Change is what an apply, delete or rollback does to one resource.
type Change struct {
	Key    string `json:"key"`    // Kind/namespace/name
	Action string `json:"action"` // created, configured, unchanged, deleted
	Diff   string `json:"diff,omitempty"`
}

// ApplyResult answers apply, delete and rollback.
type ApplyResult struct {
	// Revision is the config revision now in force (unchanged for a dry run
	// or a no-op).
	Revision int64    `json:"revision"`
	DryRun   bool     `json:"dryRun,omitempty"`
	Changes  []Change `json:"changes"`
	// Warnings are problems accepted but reported, such as a route whose
	// backend Service does not exist yet.
	Warnings []string `json:"warnings,omitempty"`
}

// Revision is one entry of the config history.
type Revision struct {
	Revision  int64     `json:"revision"`
	Time      time.Time `json:"time"`
	Op        string    `json:"op"` // apply, delete, rollback to N
	Changes   []Change  `json:"changes"`
	Resources int       `json:"resources"` // how many the config holds after it
}

// Proxy sync states, as `istioctl proxy-status` names them, plus MISSING.
const (
	// Synced: the proxy ACKed everything pushed and holds all it asked for.
	Synced = "SYNCED"
	// Stale: a push is not ACKed yet.
	Stale = "STALE"
	// NACKed: the proxy rejected a push and runs an older config.
	NACKed = "NACKED"
	// Missing: the proxy ACKed everything, but asked for resources the
	// control plane does not have (Proxy.Missing names them), so it
	// cannot route to them.
	Missing = "MISSING"
)

// Proxy is one connected sidecar as the answering replica sees it.
type Proxy struct {
	Node      string    `json:"node"`
	Connected time.Time `json:"connected"`
	Version   string    `json:"version"` // the version pushed to it
	State     string    `json:"state"`   // SYNCED, STALE, NACKED or MISSING
	// LastPush is when the control plane last sent it config, LastAnswer
	// when it last ACKed or NACKed (zero: not yet).
	LastPush   time.Time         `json:"lastPush"`
	LastAnswer time.Time         `json:"lastAnswer"`
	Acked      map[string]string `json:"acked,omitempty"`
	NACKs      map[string]string `json:"nacks,omitempty"`
	// Missing lists, per type (CDS, EDS, LDS, RDS), the resource names the
	// proxy asked for that the control plane does not have; at most 100
	// per type.
	Missing map[string][]string `json:"missing,omitempty"`
	// Replica is the control-plane replica it streams from (set by the
	// client when it asked several).
	Replica string `json:"replica,omitempty"`
}

// Instance is one registered service instance.
type Instance struct {
	Service string            `json:"service"`
	ID      string            `json:"id"`
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Labels  map[string]string `json:"labels,omitempty"`
	Zone    string            `json:"zone,omitempty"`
	Ready   bool              `json:"ready"`
	// Node is the xDS node id of the sidecar holding the instance: when
	// that sidecar's stream drops and it does not come back within the
	// control plane's grace, the instance leaves rotation.
	Node string `json:"node,omitempty"`
	// Disconnected is set by the control plane (a sidecar sends false):
	// the instance's sidecar lost its xDS stream and neither reconnected
	// nor heartbeat within the grace, so it gets no traffic.
	Disconnected bool `json:"disconnected,omitempty"`
	// Admin is the host:port of the registering sidecar's admin listener
	// ("" when it is off), so `weft explain --from` can reach it. A
	// loopback address is reachable from that host only.
	Admin string `json:"admin,omitempty"`
	// MTLS is set by a sidecar that has a workload certificate: its
	// inbound port takes mesh mTLS, so callers dial it with mTLS and check
	// that its identity is the service's (spiffe://TD/ns/NS/sa/SERVICE).
	MTLS bool `json:"mtls,omitempty"`
	// Principal is the SPIFFE ID of the verified client certificate that
	// registered the instance, as the control plane saw it ("" when the
	// operator registered it). Set by the control plane; a value a
	// registration sends is ignored.
	Principal string `json:"principal,omitempty"`
}

// Registration registers an instance or renews it. Lease is the one the
// last answer gave (0 the first time).
type Registration struct {
	Instance Instance `json:"instance"`
	Lease    int64    `json:"lease,omitempty"`
}

// Lease answers a Registration: renew within TTLSeconds.
type Lease struct {
	Lease      int64 `json:"lease"`
	TTLSeconds int64 `json:"ttlSeconds"`
}

// Error is every non-2xx answer's body.
type Error struct {
	Error string `json:"error"`
	// Details lists one line per problem (field path: reason).
	Details []string `json:"details,omitempty"`
}

// Resource is a stored resource with its status, as JSON.
type Resource = json.RawMessage

// Kind maps what an operator types (service, svc, routes, tp, ...) to a
// resource kind as it travels in apiVersion/kind, the same names as
// package mesh's Kind constants (api/server's tests hold them equal).
func Kind(s string) (string, bool) {
	switch strings.ToLower(s) {
	case "service", "services", "svc":
		return "Service", true
	case "httproute", "httproutes", "route", "routes":
		return "HTTPRoute", true
	case "trafficpolicy", "trafficpolicies", "tp", "policy", "policies":
		return "TrafficPolicy", true
	case "authorizationpolicy", "authorizationpolicies", "authz", "ap":
		return "AuthorizationPolicy", true
	}
	return "", false
}

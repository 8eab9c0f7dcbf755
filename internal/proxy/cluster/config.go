// Package cluster holds the upstream side of the proxy: named clusters of
// endpoints, each with a load balancer, connection pools and health state.
// A Set is immutable once built; NewSet carries per-endpoint state (pools,
// latency estimates) across config updates for endpoints that did not change.
package cluster

import (
	"crypto/tls"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/retry"
)

// Protocol is what the proxy speaks to a cluster's endpoints.
type Protocol uint8

const (
	HTTP1 Protocol = iota // HTTP/1.1 over pooled keep-alive connections
	HTTP2                 // HTTP/2: h2c, or h2 via ALPN when TLS is set
	TCP                   // opaque bytes
	// Auto keeps each request's HTTP version: HTTP/1.1 requests go over
	// the HTTP/1.1 pool, HTTP/2 ones (gRPC included) over HTTP/2 by prior
	// knowledge. An endpoint that answers the HTTP/2 preface as HTTP/1 (or
	// closes) is remembered as HTTP/1.1-only for a while, and HTTP/2
	// requests to it are converted to HTTP/1.1 (gRPC gets UNAVAILABLE).
	Auto
)

// LBPolicy selects the balancer.
type LBPolicy uint8

const (
	LBPeakEWMA   LBPolicy = iota // power of two choices over peak-EWMA latency (default)
	LBRoundRobin                 // weighted round robin
	LBRingHash                   // consistent hashing on Config.Hash
)

// HashPolicy says what a ring-hash cluster hashes on. Exactly one of Header
// and Cookie is set when LB is LBRingHash.
type HashPolicy struct {
	Header string
	Cookie string
}

// Config describes one cluster. Zero values are safe defaults.
type Config struct {
	Name      string
	Endpoints []EndpointConfig
	LB        LBPolicy
	Hash      HashPolicy
	Protocol  Protocol
	// PeerIDs, when set, are the SPIFFE IDs allowed to serve this cluster
	// (secure naming): the sidecar then sets TLS to its mesh mTLS client
	// config for them, and dials every endpoint not marked Plaintext with it.
	PeerIDs []string `json:"peerIds,omitempty"`
	// TLS, when set, wraps every upstream connection (mesh mTLS plugs in here).
	TLS *tls.Config `json:"-"` // process state, not config: never cached or dumped
	// ConnectTimeout bounds dialing one endpoint. Zero means 2s.
	ConnectTimeout time.Duration
	// IdleTimeout closes pooled connections unused this long. Zero means 60s.
	IdleTimeout time.Duration
	// MaxConnsPerEndpoint caps open connections to one endpoint. Zero means 1024.
	MaxConnsPerEndpoint int
	// MaxIdlePerEndpoint caps idle pooled connections to one endpoint. Zero means 128.
	MaxIdlePerEndpoint int
	// RetryBudget caps the retries of requests to this cluster. The zero
	// value is the default budget (20 % of requests plus 10/s over 10 s).
	RetryBudget retry.BudgetConfig
	// Breaker caps connections, pending requests, requests and retries in
	// flight to the whole cluster from this proxy; overflow fails fast
	// with 503. Zero fields cap nothing.
	Breaker breaker.Limits
	// Outlier, when set, ejects endpoints that fail (passive: it watches
	// real requests). Nil means no ejection.
	Outlier *breaker.OutlierConfig
	// NoLocality turns locality-aware balancing off: requests spread over
	// every endpoint whatever its zone. By default (false) a sidecar that
	// knows its own locality (WithLocality) prefers endpoints in its zone,
	// then its region, then the rest, spilling to the next tier when fewer
	// than 71.4 % of a tier's endpoints are healthy.
	NoLocality bool
}

// EndpointConfig is one upstream address.
type EndpointConfig struct {
	Address string // host:port
	Weight  uint32 // relative; 0 means 1
	Zone    string // the endpoint's zone; "" unknown
	Region  string // the endpoint's region; "" unknown
	Labels  map[string]string
	// MTLS marks an endpoint that takes mesh mTLS. In a cluster with
	// PeerIDs, only these are dialed with Config.TLS; the others (no mesh
	// identity yet: a migration under way) are dialed in plaintext.
	MTLS bool `json:"mtls,omitempty"`
}

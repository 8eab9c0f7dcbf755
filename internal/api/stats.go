package api

import "time"

// Stats are the mesh's golden signals over a recent window, computed by
// the control plane from its sidecars' own metrics (GET /v1/stats).
type Stats struct {
	// WindowSeconds is the span of time the figures cover.
	WindowSeconds float64 `json:"windowSeconds"`
	// Updated is when the newest scrape finished.
	Updated time.Time `json:"updated"`
	// Sidecars is how many sidecars were scraped in the last round, and
	// Unreachable how many of those with an admin address did not answer.
	Sidecars    int `json:"sidecars"`
	Unreachable int `json:"unreachable"`
	// Services are per service and version, as the destination's sidecars
	// report the requests they received.
	Services []ServiceStats `json:"services"`
	// Edges are per caller and callee service, as the caller's sidecar
	// reports its requests (unmeshed callers are not edges).
	Edges []EdgeStats `json:"edges"`
	// Failures are the responses other than 2xx over the window, per
	// reporter, edge, response code and response flags, most first; at
	// most MaxFailures rows.
	Failures []FailureStats `json:"failures"`
	// Certificates are the workload certificates of the scraped sidecars,
	// one per instance, most urgent first (EXPIRED, EXPIRING, then by
	// time left); at most MaxCertificates rows.
	Certificates []CertificateStatus `json:"certificates"`
}

// MaxFailures caps Stats.Failures.
const MaxFailures = 200

// FailureStats counts one kind of response other than 2xx on one edge.
type FailureStats struct {
	// Reporter is "source" (the caller's sidecar counted it) or
	// "destination" (the callee's did). A request through two sidecars is
	// counted once by each.
	Reporter string `json:"reporter"`
	// Source is the calling service ("" when the callee's sidecar could
	// not tell), Destination the called one ("" when the caller's sidecar
	// answered before it had one: no route, a fault, a rate limit).
	Source      string `json:"source,omitempty"`
	Destination string `json:"destination,omitempty"`
	// Code is the response code ("0" when no response was sent), or a
	// code class such as "5xx" from a sidecar reporting classes only.
	Code string `json:"code"`
	// Flags are Envoy's response flags (UH, UF, URX, RL, RBAC, ...): why
	// the mesh rather than the app made the response; "" when the app did.
	Flags    string  `json:"flags,omitempty"`
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
}

// Golden are the golden signals of a set of requests.
type Golden struct {
	Requests int64   `json:"requests"`
	RPS      float64 `json:"rps"`
	// SuccessRate is the share of requests without a 5xx or a missing
	// response, 0 to 1 (1 when there were none).
	SuccessRate float64 `json:"successRate"`
	// Latency percentiles in milliseconds, interpolated within the
	// sidecars' histogram buckets (as Prometheus' histogram_quantile).
	P50Ms float64 `json:"p50Ms"`
	P95Ms float64 `json:"p95Ms"`
	P99Ms float64 `json:"p99Ms"`
}

// ServiceStats are one service version's signals.
type ServiceStats struct {
	Service string `json:"service"`
	Version string `json:"version,omitempty"`
	// Instances is how many of its instances were scraped.
	Instances int `json:"instances"`
	Golden
}

// EdgeStats are the signals of one caller-to-callee edge.
type EdgeStats struct {
	Source      string `json:"source"`
	Destination string `json:"destination"`
	// Reporter is whose sidecar the figures are from: "source" (the
	// caller's, the usual view), or "destination" when the caller has no
	// sidecar the control plane scrapes (a load generator, an ingress, a
	// plaintext caller of a PERMISSIVE port).
	Reporter string `json:"reporter"`
	Golden
}

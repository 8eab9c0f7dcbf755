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
	Golden
}

package api

import "time"

// TapLine is one line of a tap stream (GET /v1/tap, NDJSON): a request
// one sidecar saw, the stream's counters, a sidecar's error, or why the
// stream ended. Exactly one of Event, Stats, Error and End is set.
type TapLine struct {
	// Instance is the sidecar's instance ("service/id") the line is from;
	// empty on the control plane's own lines.
	Instance string    `json:"instance,omitempty"`
	Event    *TapEvent `json:"event,omitempty"`
	Stats    *TapStats `json:"stats,omitempty"`
	// Error says a sidecar could not be tapped or its stream broke; the
	// others go on.
	Error string `json:"error,omitempty"`
	// End is why the stream ended: "duration", "max" (that many events
	// were sent) or "shutdown".
	End string `json:"end,omitempty"`
}

// TapEvent is one finished request's metadata: never a body, a header
// value or a query string.
type TapEvent struct {
	// Time is when the request arrived at the sidecar.
	Time time.Time `json:"time"`
	// Direction is "inbound" (the tapped service was called) or
	// "outbound" (it called another).
	Direction   string  `json:"direction"`
	Source      TapPeer `json:"source"`
	Destination TapPeer `json:"destination"`
	// Protocol is "http" or "grpc".
	Protocol  string `json:"protocol"`
	Method    string `json:"method"`
	Authority string `json:"authority"`
	// Path is without its query string.
	Path string `json:"path"`
	// Status is the HTTP status sent back; 0 when none was.
	Status int `json:"status"`
	// GRPCStatus is the gRPC status code; -1 when not gRPC or none.
	GRPCStatus    int     `json:"grpcStatus"`
	DurationMs    float64 `json:"durationMs"`
	RequestBytes  int64   `json:"requestBytes"`
	ResponseBytes int64   `json:"responseBytes"`
	// ResponseFlags is why the mesh made or ended the response; "" when
	// the upstream answered.
	ResponseFlags string `json:"responseFlags,omitempty"`
	TraceID       string `json:"traceId,omitempty"`
	// Upstream is the endpoint address the sidecar called, if any.
	Upstream string `json:"upstream,omitempty"`
}

// TapPeer is one side of a tapped request; empty fields are unknown.
type TapPeer struct {
	// Service is the destination service's host (destination only).
	Service   string `json:"service,omitempty"`
	Workload  string `json:"workload,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Version   string `json:"version,omitempty"`
	// Principal is the SPIFFE ID that mTLS proved.
	Principal string `json:"principal,omitempty"`
}

// TapStats count a stream's events so far. On a sidecar's line they are
// its session's; on the control plane's own line, the sum over the
// sidecars plus what the control plane itself held back.
type TapStats struct {
	// Matched events passed the filter in the sidecars, as they last
	// reported (every 2s, and when their session ends): at least
	// Sent+RateLimited+Dropped.
	Matched uint64 `json:"matched"`
	// RateLimited were over a rate cap (a sidecar's or the stream's
	// total), Dropped found a buffer full; neither was sent.
	RateLimited uint64 `json:"rateLimited"`
	Dropped     uint64 `json:"dropped"`
	// Sent is the events the control plane sent on this stream.
	Sent uint64 `json:"sent,omitempty"`
}

// TapQuery selects what GET /v1/tap streams. Zero fields match all.
type TapQuery struct {
	// Service is whose sidecars are tapped (required): the requests they
	// receive and the ones they send.
	Service string
	// Direction is "inbound", "outbound" or "" (both).
	Direction string
	// Path is a path prefix; Method an HTTP method; Status a code (404)
	// or a class (5xx).
	Path, Method, Status string
	// Rate caps the stream's events per second, over all its sidecars;
	// 0 means 100, at most 1000.
	Rate int
	// Max ends the stream after that many events; 0 means no limit.
	Max int
	// Duration ends the stream; 0 means the control plane's most (30m).
	Duration time.Duration
}

// Package tap streams live request metadata out of a sidecar: `weft tap`.
// A Hub is fed by both proxy engines where they finish a request; while no
// session is open that costs one atomic load. Each session filters,
// rate-limits and buffers its own events, and counts what it drops. Events
// carry metadata only: never a body, never a header value, never the
// query string (it often carries tokens).
package tap

import (
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/telemetry"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// MaxPath caps an event's path, so one request cannot make a huge line.
const MaxPath = 1024

// Event is one finished request as a sidecar saw it. Its JSON is the
// admin endpoint's wire form (api.TapEvent on the control plane).
type Event struct {
	// Time is when the request arrived at the sidecar.
	Time time.Time `json:"time"`
	// Direction is "inbound" (the sidecar's own service was called) or
	// "outbound" (its service called another).
	Direction string `json:"direction"`
	// Source and Destination are the caller and the callee, as the
	// request metrics label them; empty fields are unknown.
	Source      Peer `json:"source"`
	Destination Peer `json:"destination"`
	// Protocol is "http" or "grpc".
	Protocol  string `json:"protocol"`
	Method    string `json:"method"`
	Authority string `json:"authority"`
	// Path is the request's path without its query string, cut at MaxPath
	// bytes.
	Path string `json:"path"`
	// Status is the HTTP status sent back; 0 when none was.
	Status int `json:"status"`
	// GRPCStatus is the gRPC status code; -1 when the call is not gRPC or
	// ended without one.
	GRPCStatus int `json:"grpcStatus"`
	// DurationMs is from the request's arrival to the end of its response.
	DurationMs float64 `json:"durationMs"`
	// RequestBytes and ResponseBytes are the body sizes.
	RequestBytes  int64 `json:"requestBytes"`
	ResponseBytes int64 `json:"responseBytes"`
	// ResponseFlags is why the mesh made or ended the response ("" when
	// the upstream answered), in the response-flag vocabulary.
	ResponseFlags string `json:"responseFlags,omitempty"`
	// TraceID is the request's trace, when tracing is on.
	TraceID string `json:"traceId,omitempty"`
	// Upstream is the endpoint address the sidecar called, if any.
	Upstream string `json:"upstream,omitempty"`
}

// Peer is one side of a request.
type Peer struct {
	// Service is the destination service's host (destination only).
	Service   string `json:"service,omitempty"`
	Workload  string `json:"workload,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Version   string `json:"version,omitempty"`
	// Principal is the SPIFFE ID that mTLS proved.
	Principal string `json:"principal,omitempty"`
}

// Build makes a request's event from what the engines record for its
// metrics (r) and its span (s). It allocates: call it only while Active.
func Build(r *telemetry.Request, s *tracing.Span, start time.Time) Event {
	path := s.Path
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if len(path) > MaxPath {
		path = path[:MaxPath]
	}
	ev := Event{
		Time: start, Direction: s.Direction, Protocol: r.Protocol.String(),
		Source:      peer(&r.Source, ""),
		Destination: peer(&r.Destination, r.Service.Host),
		Method:      s.Method, Authority: s.Authority, Path: path,
		Status: r.Code, GRPCStatus: r.GRPCStatus,
		DurationMs:    float64(r.Duration.Microseconds()) / 1000,
		RequestBytes:  r.RequestBytes,
		ResponseBytes: r.ResponseBytes,
		Upstream:      s.Upstream,
	}
	if r.Flag != telemetry.FlagNone {
		ev.ResponseFlags = r.Flag.String()
	}
	if !s.Trace.IsZero() {
		ev.TraceID = string(tracing.AppendHex(nil, s.Trace[:]))
	}
	return ev
}

func peer(w *telemetry.Workload, service string) Peer {
	name := w.Name
	if name == "" {
		name = w.App
	}
	return Peer{Service: service, Workload: name, Namespace: w.Namespace, Version: w.Version, Principal: w.Principal}
}

package tracing

import (
	"math/rand/v2"
	"time"
)

// Kind is a span's role, with OTLP's numbers: SERVER for a request as
// this sidecar received it, CLIENT for the call it made upstream.
type Kind uint8

// Span kinds.
const (
	KindServer Kind = 2
	KindClient Kind = 3
)

// Sink receives finished spans. Export must not block: a sink that is
// full drops the span and counts it.
type Sink interface {
	Export(*Span)
}

// Span is one finished span, ready to export. The engines fill one with
// a request's facts when it ends; the access log reads the same value.
type Span struct {
	Trace     TraceID
	ID        SpanID
	Parent    SpanID // zero for a trace's root
	Kind      Kind
	Name      string
	Start     time.Time
	End       time.Time
	Direction string // "inbound" or "outbound"
	Method    string
	Authority string
	Path      string
	Protocol  string // "HTTP/1.1", "HTTP/2", "gRPC"
	Status    int    // the HTTP status sent back; 0 if none
	Flags     string // response flags, "" when the upstream answered
	Cluster   string // upstream service (cluster) name
	Upstream  string // upstream endpoint address, client spans only
	RequestID string
}

// Error reports whether the span records a failure: a 5xx, no response,
// or a response the mesh made.
func (s *Span) Error() bool { return s.Status == 0 || s.Status >= 500 || s.Flags != "" }

// Tracer decides sampling and builds the spans of each hop. A nil
// *Tracer traces nothing and costs one nil check per request.
type Tracer struct {
	below uint64 // a new trace is sampled when its draw is below this
	sink  Sink
}

// New returns a tracer that samples the given share (0 to 1) of the
// traces it starts and sends spans to sink. A request that arrives with a
// context keeps its caller's decision (parent-based sampling), so a trace
// is recorded whole or not at all.
func New(sampling float64, sink Sink) *Tracer {
	t := &Tracer{sink: sink}
	switch {
	case sampling >= 1:
		t.below = ^uint64(0)
	case sampling > 0:
		t.below = uint64(sampling * (1 << 63) * 2)
	}
	return t
}

// Hop is one request's trace state in a sidecar: the trace, the caller's
// span, the server span this sidecar records for the request it received
// and the client span for the call it makes upstream, whose id travels on
// as the next hop's parent.
type Hop struct {
	Trace   TraceID
	Parent  SpanID
	Server  SpanID
	Client  SpanID
	Sampled bool
	// B3 is set when the request came with B3 headers: the upstream gets
	// B3 headers too, for callees that read only B3.
	B3 bool
	// Active is false when no tracer ran: headers pass through untouched.
	Active bool
}

// Begin starts the hop for a request that arrived with in (in.Valid false
// starts a new trace, sampled by the tracer's share).
func (t *Tracer) Begin(in Context) Hop {
	h := Hop{Active: true}
	if in.Valid {
		h.Trace, h.Parent, h.Sampled = in.Trace, in.Span, in.Sampled
	} else {
		putUint64(h.Trace[:8], rand.Uint64())
		// The sampling decision comes from the trace id's random low half,
		// as OpenTelemetry's TraceIdRatioBased sampler decides: one random
		// number fewer per request.
		low := rand.Uint64()
		putUint64(h.Trace[8:], low|1) // never all zero
		h.Sampled = t.below == ^uint64(0) || low < t.below
	}
	if h.Sampled {
		putUint64(h.Server[:], rand.Uint64()|1)
	}
	putUint64(h.Client[:], rand.Uint64()|1)
	return h
}

// ServerSpan is the hop's server span id. A sampled hop has it from
// Begin; an unsampled one draws it here, on first use: only B3's
// X-B3-ParentSpanId needs it, and most requests are neither sampled nor
// B3, so they skip a random number.
func (h *Hop) ServerSpan() SpanID {
	if h.Server.IsZero() {
		putUint64(h.Server[:], rand.Uint64()|1)
	}
	return h.Server
}

// Finish exports the hop's server span and, when an upstream was called
// (upstreamStart not zero), its client span. s carries the request's
// facts; its ids, kind and times are filled here. Unsampled hops export
// nothing.
func (t *Tracer) Finish(h *Hop, s Span, start, upstreamStart, end time.Time) {
	if t == nil || !h.Active || !h.Sampled || t.sink == nil {
		return
	}
	s.Trace = h.Trace
	h.ServerSpan() // set by Begin for a sampled hop; this keeps Finish safe for any
	if !upstreamStart.IsZero() {
		c := s
		c.ID, c.Parent, c.Kind, c.Start, c.End = h.Client, h.Server, KindClient, upstreamStart, end
		t.sink.Export(&c)
	}
	s.Upstream = ""
	s.ID, s.Parent, s.Kind, s.Start, s.End = h.Server, h.Parent, KindServer, start, end
	t.sink.Export(&s)
}

func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

package proxy

import (
	"context"
	"net/http"
	"time"
	"unsafe"

	"github.com/weft-mesh/weft/internal/telemetry"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// h2Trace is one HTTP/2 request's trace state, carried in its context.
type h2Trace struct {
	hop     tracing.Hop
	upStart time.Time
	upAddr  string
	id      string // the x-request-id this proxy generated, if any
	tp      traceparentValue
}

// traceparentValue is an upstream request's traceparent header value,
// formatted once per request into its own bytes (never written again:
// the string shares them), and the one-element slice a header needs.
type traceparentValue struct {
	buf [64]byte
	v   [1]string
}

// set formats hop's traceparent the first time; retries reuse it (the
// client span, so the value, is the same for every try).
func (t *traceparentValue) set(hop *tracing.Hop) []string {
	if t.v[0] == "" {
		b := tracing.AppendTraceparent(t.buf[:0], hop.Trace, hop.Client, hop.Sampled)
		t.v[0] = unsafe.String(&b[0], len(b)) // b is t.buf: 55 bytes fit
	}
	return t.v[:1:1]
}

type h2TraceKey struct{}

// h2TraceCtx carries a request's h2Trace: one allocation for both the
// state and the context (context.WithValue would be a second).
type h2TraceCtx struct {
	context.Context
	ts h2Trace
}

// Value answers h2TraceKey with the trace state, anything else from the
// parent, as context.WithValue's context does.
func (c *h2TraceCtx) Value(key any) any {
	if _, ok := key.(h2TraceKey); ok {
		return &c.ts
	}
	return c.Context.Value(key)
}

// beginTrace starts the request's hop when tracing or access logs are
// on; the returned request carries it for the paths that finish it.
func (h *HTTP2) beginTrace(r *http.Request) *http.Request {
	if h.cfg.Tracer == nil && h.cfg.AccessLog == nil && !h.cfg.Tap.Active() {
		return r
	}
	ctx := &h2TraceCtx{Context: r.Context()}
	if h.cfg.Tracer != nil {
		in, b3 := headerTraceContext(r.Header)
		ctx.ts.hop = h.cfg.Tracer.Begin(in)
		ctx.ts.hop.B3 = b3
	}
	return r.WithContext(ctx)
}

// headerTraceContext reads traceparent, then b3, then X-B3-*; b3 reports
// that the caller speaks B3.
func headerTraceContext(hdr http.Header) (tracing.Context, bool) {
	b3Trace := hdr.Get("X-B3-Traceid")
	b3 := b3Trace != "" || hdr.Get("B3") != ""
	if c, ok := tracing.ParseTraceparent([]byte(hdr.Get("Traceparent"))); ok {
		return c, b3
	}
	if c, ok := tracing.ParseB3Single([]byte(hdr.Get("B3"))); ok {
		return c, true
	}
	if b3Trace != "" {
		var sampled, flags []byte
		if v := hdr.Values("X-B3-Sampled"); len(v) > 0 {
			sampled = []byte(v[0])
		}
		if v := hdr.Values("X-B3-Flags"); len(v) > 0 {
			flags = []byte(v[0])
		}
		if c, ok := tracing.ParseB3Multi([]byte(b3Trace), []byte(hdr.Get("X-B3-Spanid")), sampled, flags); ok {
			return c, true
		}
	}
	return tracing.Context{}, b3
}

// setTraceHeaders replaces the upstream request's trace headers with this
// hop's: its client span is the next hop's parent. tp, when not nil,
// holds the request's traceparent value, so writing it allocates
// nothing; nil allocates one.
func setTraceHeaders(hdr http.Header, hop *tracing.Hop, tp *traceparentValue) {
	for _, k := range []string{"Traceparent", "B3", "X-B3-Traceid", "X-B3-Spanid", "X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Flags"} {
		delete(hdr, k)
	}
	if tp == nil {
		tp = new(traceparentValue)
	}
	hdr["Traceparent"] = tp.set(hop)
	if hop.B3 {
		hdr["X-B3-Traceid"] = []string{string(tracing.AppendHex(nil, hop.Trace[:]))}
		hdr["X-B3-Spanid"] = []string{string(tracing.AppendHex(nil, hop.Client[:]))}
		sid := hop.ServerSpan()
		hdr["X-B3-Parentspanid"] = []string{string(tracing.AppendHex(nil, sid[:]))}
		sampled := "0"
		if hop.Sampled {
			sampled = "1"
		}
		hdr["X-B3-Sampled"] = []string{sampled}
	}
}

// traceOutbound stamps an upstream request's headers for a traced hop and
// notes when and where the first try went.
func traceOutbound(ctx context.Context, hdr http.Header, addr string) {
	ts, _ := ctx.Value(h2TraceKey{}).(*h2Trace)
	if ts == nil {
		return
	}
	if ts.hop.Active {
		setTraceHeaders(hdr, &ts.hop, &ts.tp)
	}
	if ts.upStart.IsZero() {
		ts.upStart = time.Now()
	}
	ts.upAddr = addr
	if ts.id == "" {
		ts.id = hdr.Get("X-Request-Id")
	}
}

// finishTrace records the request's spans and access log line.
// rec is the request's metrics record, for tap.
func (h *HTTP2) finishTrace(r *http.Request, rec *telemetry.Request, code int, f telemetry.Flag, clusterName string, start time.Time) {
	ts, _ := r.Context().Value(h2TraceKey{}).(*h2Trace)
	if ts == nil {
		return
	}
	sampled := ts.hop.Active && ts.hop.Sampled
	tapping := h.cfg.Tap.Active()
	if !sampled && h.cfg.AccessLog == nil && !tapping {
		return
	}
	end := time.Now()
	proto := "HTTP/2"
	if isGRPC(r.Header) {
		proto = "gRPC"
	}
	id := r.Header.Get("X-Request-Id")
	if id == "" {
		id = ts.id
	}
	s := newSpan(h.cfg.Direction, r.Method, r.Host, r.RequestURI, proto, id, code, f, clusterName)
	upStart := ts.upStart
	if !upStart.IsZero() {
		s.Upstream = ts.upAddr
	}
	if ts.hop.Active {
		s.Trace = ts.hop.Trace
	}
	h.cfg.AccessLog.Log(&s, start, end)
	if tapping {
		ev := tap.Build(rec, &s, start)
		h.cfg.Tap.Publish(&ev)
	}
	if sampled {
		h.cfg.Tracer.Finish(&ts.hop, s, start, upStart, end)
	}
}

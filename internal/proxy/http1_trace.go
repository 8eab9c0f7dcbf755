package proxy

import (
	"bufio"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/telemetry"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// beginTrace reads the request's trace context (W3C traceparent first,
// then b3, then X-B3-*) and starts this hop. Without a tracer it does
// nothing and trace headers pass through untouched.
func (hc *h1conn) beginTrace() {
	t := hc.h.cfg.Tracer
	if t == nil {
		hc.hop.Active = false
		return
	}
	var in tracing.Context
	var b3 bool
	var b3Trace, b3Span, b3Sampled, b3Flags, traceparent []byte
	for _, f := range hc.req.Headers {
		if !traceInitial(f.Name) {
			continue // most headers: one byte read, no name compared
		}
		switch {
		case h1.EqualFold(f.Name, "traceparent"):
			if traceparent == nil {
				traceparent = f.Value
			}
		case h1.EqualFold(f.Name, "b3"):
			if c, ok := tracing.ParseB3Single(f.Value); ok {
				in, b3 = c, true // a valid traceparent wins below
			}
		case h1.EqualFold(f.Name, "x-b3-traceid"):
			b3Trace = f.Value
		case h1.EqualFold(f.Name, "x-b3-spanid"):
			b3Span = f.Value
		case h1.EqualFold(f.Name, "x-b3-sampled"):
			b3Sampled = f.Value
		case h1.EqualFold(f.Name, "x-b3-flags"):
			b3Flags = f.Value
		}
	}
	if traceparent != nil {
		if c, ok := tracing.ParseTraceparent(traceparent); ok {
			in, b3 = c, b3 || b3Trace != nil
		}
	}
	if !in.Valid && b3Trace != nil {
		if c, ok := tracing.ParseB3Multi(b3Trace, b3Span, b3Sampled, b3Flags); ok {
			in, b3 = c, true
		}
	}
	hc.hop = t.Begin(in)
	hc.hop.B3 = b3
	hc.upStart = time.Time{}
}

// traceHeader reports the trace headers this hop rewrites (it writes its
// own after the request's other headers).
func traceHeader(n []byte) bool {
	if !traceInitial(n) {
		return false
	}
	return h1.EqualFold(n, "traceparent") || h1.EqualFold(n, "b3") ||
		len(n) > 5 && h1.EqualFold(n[:5], "x-b3-")
}

// traceInitial reports whether a header name starts as a trace header's
// does (t, b or x, in any case): a cheap test before the name compares.
func traceInitial(n []byte) bool {
	if len(n) == 0 {
		return false
	}
	switch n[0] | 0x20 {
	case 't', 'b', 'x':
		return true
	}
	return false
}

// writeTraceHeaders writes the upstream's trace context: this hop's
// client span is the next hop's parent. It formats in the writer's buffer
// so it does not allocate.
func (hc *h1conn) writeTraceHeaders(w *bufio.Writer) {
	h := &hc.hop
	if w.Available() < 256 {
		w.Flush()
	}
	b := w.AvailableBuffer()
	b = append(b, "traceparent: "...)
	b = tracing.AppendTraceparent(b, h.Trace, h.Client, h.Sampled)
	b = append(b, "\r\n"...)
	if h.B3 {
		b = append(b, "X-B3-TraceId: "...)
		b = tracing.AppendHex(b, h.Trace[:])
		b = append(b, "\r\nX-B3-SpanId: "...)
		b = tracing.AppendHex(b, h.Client[:])
		b = append(b, "\r\nX-B3-ParentSpanId: "...)
		sid := h.ServerSpan()
		b = tracing.AppendHex(b, sid[:])
		if h.Sampled {
			b = append(b, "\r\nX-B3-Sampled: 1\r\n"...)
		} else {
			b = append(b, "\r\nX-B3-Sampled: 0\r\n"...)
		}
	}
	w.Write(b)
}

// markUpstream notes when the first upstream try began (the client
// span's start), for sampled hops and access logs only.
func (hc *h1conn) markUpstream() {
	if hc.h.cfg.AccessLog != nil || hc.hop.Active && hc.hop.Sampled {
		if hc.upStart.IsZero() {
			hc.upStart = time.Now()
		}
	}
}

// finishTrace records the request's spans and access log line, where
// configured. upstream is the endpoint's address ("" if none was called).
func (hc *h1conn) finishTrace(code int, f telemetry.Flag, clusterName, upstream string, start time.Time) {
	cfg := &hc.h.cfg
	sampled := hc.hop.Active && hc.hop.Sampled
	tapping := cfg.Tap.Active()
	if !sampled && cfg.AccessLog == nil && !tapping {
		hc.hop.Active = false
		return
	}
	end := time.Now()
	proto := "HTTP/1.1"
	if hc.req.Method == nil {
		proto = "" // a head that never parsed
	}
	id, ok := hc.Get("x-request-id")
	if !ok {
		id = hc.reqID[:]
	}
	s := newSpan(cfg.Direction, string(hc.req.Method), string(hc.req.Authority), string(hc.req.Path), proto, string(id), code, f, clusterName)
	s.Upstream = upstream
	if hc.hop.Active {
		s.Trace = hc.hop.Trace
	}
	cfg.AccessLog.Log(&s, start, end)
	if tapping {
		ev := tap.Build(&hc.rec, &s, start)
		cfg.Tap.Publish(&ev)
	}
	if sampled {
		upStart := hc.upStart
		if upstream == "" {
			upStart = time.Time{}
		}
		cfg.Tracer.Finish(&hc.hop, s, start, upStart, end)
	}
	hc.hop.Active = false
}

// newSpan is a request's facts as both engines report them to the tracer
// and the access log; ids, kind and times are the tracer's.
func newSpan(dir, method, authority, path, proto, requestID string, code int, f telemetry.Flag, clusterName string) tracing.Span {
	s := tracing.Span{Direction: dir, Method: method, Authority: authority, Path: path, Protocol: proto,
		Status: code, Cluster: clusterName, RequestID: requestID, Name: method + " " + clusterName}
	if clusterName == "" {
		s.Name = method + " " + authority
	}
	if f != telemetry.FlagNone {
		s.Flags = f.String()
	}
	return s
}

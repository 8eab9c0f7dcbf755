package proxy

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

type spanSink struct {
	mu    sync.Mutex
	spans []*tracing.Span
}

func (s *spanSink) Export(sp *tracing.Span) {
	s.mu.Lock()
	s.spans = append(s.spans, sp)
	s.mu.Unlock()
}

func (s *spanSink) take() []*tracing.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.spans
	s.spans = nil
	return out
}

const callerParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestHTTP1TraceContext: the upstream gets the caller's trace with this
// hop's client span as parent, and the hop's spans link to the caller's.
func TestHTTP1TraceContext(t *testing.T) {
	rec := newRecorder(t)
	sink := &spanSink{}
	addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) { c.Tracer = tracing.New(0, sink) })

	out, _ := exchange(t, addr, "GET /items HTTP/1.1\r\nHost: catalog\r\ntraceparent: "+callerParent+
		"\r\ntracestate: vendor=1\r\nConnection: close\r\n\r\n")
	if !strings.Contains(out, "200 OK") {
		t.Fatalf("response %q", out)
	}
	up := rec.requests()[0].Header
	if got := up.Values("Traceparent"); len(got) != 1 {
		t.Fatalf("upstream traceparent %q, want exactly one", got)
	}
	in, _ := tracing.ParseTraceparent([]byte(callerParent))
	next, ok := tracing.ParseTraceparent([]byte(up.Get("Traceparent")))
	if !ok || next.Trace != in.Trace || next.Span == in.Span || !next.Sampled {
		t.Fatalf("upstream traceparent %q from %q", up.Get("Traceparent"), callerParent)
	}
	if up.Get("Tracestate") != "vendor=1" {
		t.Fatalf("tracestate %q not forwarded", up.Get("Tracestate"))
	}
	spans := sink.take()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want client and server", len(spans))
	}
	client, server := spans[0], spans[1]
	if server.Parent != in.Span || client.Parent != server.ID || client.ID != next.Span || client.Trace != in.Trace {
		t.Fatalf("links: caller %x, server %x<-%x, client %x<-%x, upstream parent %x",
			in.Span, server.ID, server.Parent, client.ID, client.Parent, next.Span)
	}
	if server.Status != 200 || server.Method != "GET" || server.Path != "/items" || client.Upstream != rec.addr() || server.Cluster != "up" {
		t.Fatalf("server span %+v client %+v", server, client)
	}

	// No context and sampling 0: a new unsampled trace is propagated so
	// the next hops agree, and nothing is recorded.
	exchange(t, addr, "GET /x HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")
	tp := rec.requests()[1].Header.Get("Traceparent")
	if c, ok := tracing.ParseTraceparent([]byte(tp)); !ok || c.Sampled {
		t.Fatalf("new trace %q: want a valid unsampled traceparent", tp)
	}
	if n := len(sink.take()); n != 0 {
		t.Fatalf("%d spans recorded for an unsampled request", n)
	}
}

func TestHTTP1B3Context(t *testing.T) {
	rec := newRecorder(t)
	sink := &spanSink{}
	addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) { c.Tracer = tracing.New(0, sink) })
	exchange(t, addr, "GET / HTTP/1.1\r\nHost: catalog\r\nX-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7\r\n"+
		"X-B3-SpanId: e457b5a2e4d86bd1\r\nX-B3-Sampled: 1\r\nConnection: close\r\n\r\n")
	up := rec.requests()[0].Header
	if up.Get("X-B3-Traceid") != "80f198ee56343ba864fe8b2a57d3eff7" || up.Get("X-B3-Spanid") == "e457b5a2e4d86bd1" ||
		up.Get("X-B3-Sampled") != "1" || len(up.Values("X-B3-Spanid")) != 1 {
		t.Fatalf("upstream B3 headers %v", up)
	}
	if !strings.HasPrefix(up.Get("Traceparent"), "00-80f198ee56343ba864fe8b2a57d3eff7-"+up.Get("X-B3-Spanid")) {
		t.Fatalf("traceparent %q disagrees with B3 %q", up.Get("Traceparent"), up.Get("X-B3-Spanid"))
	}
	if spans := sink.take(); len(spans) != 2 || spans[1].Parent[0] != 0xe4 {
		t.Fatalf("spans %v", spans)
	}
}

// TestHTTP1NoTracerPassesHeaders: without a tracer the trace headers are
// the caller's, byte for byte.
func TestHTTP1NoTracerPassesHeaders(t *testing.T) {
	rec := newRecorder(t)
	addr, _ := startHTTP1(t, rec, nil)
	exchange(t, addr, "GET / HTTP/1.1\r\nHost: catalog\r\ntraceparent: "+callerParent+"\r\nConnection: close\r\n\r\n")
	if got := rec.requests()[0].Header.Get("Traceparent"); got != callerParent {
		t.Fatalf("traceparent %q, want %q", got, callerParent)
	}
}

func TestHTTP2TraceContext(t *testing.T) {
	var mu sync.Mutex
	var seen http.Header
	up := h2cUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = r.Header.Clone()
		mu.Unlock()
		w.WriteHeader(204)
	})
	sink := &spanSink{}
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, up, cluster.HTTP2, 0), Tracer: tracing.New(0, sink)})
	addr := serveEngine(t, h)
	req, _ := http.NewRequest("GET", "http://"+addr+"/grpc.Svc/Call", nil)
	req.Header.Set("Traceparent", callerParent)
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	tp := seen.Get("Traceparent")
	mu.Unlock()
	next, ok := tracing.ParseTraceparent([]byte(tp))
	spans := sink.take()
	if !ok || len(spans) != 2 || spans[0].ID != next.Span || spans[1].Parent[0] != 0x00 || spans[1].Parent[1] != 0xf0 || spans[1].Status != 204 {
		t.Fatalf("upstream traceparent %q, spans %+v", tp, spans)
	}
}

package e2e

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// pyHop is a mesh-unaware Python app: it waits $DELAY seconds, calls
// http://$NEXT/ through the proxy variables weft run gives it (if NEXT is
// set), forwarding the trace headers as any traced app must, and answers
// with the chain of names.
const pyHop = `
import os, time, http.server, urllib.request
NAME, NEXT, DELAY = os.environ["NAME"], os.environ.get("NEXT", ""), float(os.environ.get("DELAY", "0"))
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(DELAY)
        body = NAME.encode()
        if NEXT:
            req = urllib.request.Request("http://" + NEXT + "/")
            for h in ("traceparent", "tracestate", "x-request-id"):
                if self.headers.get(h):
                    req.add_header(h, self.headers.get(h))
            body += b" > " + urllib.request.urlopen(req, timeout=10).read()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`

// otlpReceiver is an OTLP/HTTP collector on loopback, decoding with
// OpenTelemetry's own generated types.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []spanOf
}

type spanOf struct {
	service string
	span    *tracepb.Span
}

func startOTLPReceiver(t *testing.T) (*otlpReceiver, string) {
	r := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var ex coltrace.ExportTraceServiceRequest
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" || proto.Unmarshal(body, &ex) != nil {
			t.Errorf("collector: bad export to %s (%s)", req.URL.Path, req.Header.Get("Content-Type"))
			w.WriteHeader(400)
			return
		}
		r.add(&ex)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

// add keeps the spans of one export, with their service's name.
func (r *otlpReceiver) add(ex *coltrace.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range ex.ResourceSpans {
		svc := ""
		for _, kv := range rs.Resource.GetAttributes() {
			if kv.Key == "service.name" {
				svc = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, spanOf{svc, s})
			}
		}
	}
}

func (r *otlpReceiver) all() []spanOf {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]spanOf(nil), r.spans...)
}

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value.GetStringValue()
		}
	}
	return ""
}

// TestTraceAcrossThreeServices: frontend -> backend -> slow, each a Python
// app under weft run that forwards traceparent. The sidecars export over
// OTLP to a real receiver; the call makes one trace whose parent links
// chain every hop, and the slow hop is the one that took the time.
func TestTraceAcrossThreeServices(t *testing.T) {
	rcv, collectorURL := startOTLPReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collectorURL)
	traceThreeServices(t, rcv)
}

// traceThreeServices runs the chain with the sidecars exporting to rcv
// (the OTEL_EXPORTER_OTLP_* variables the caller set say how) and checks
// the trace it makes.
func traceThreeServices(t *testing.T, rcv *otlpReceiver) {
	t.Setenv("OTEL_TRACES_SAMPLER_ARG", "1")
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	var svcs strings.Builder
	for _, s := range []string{"frontend", "backend", "slow"} {
		fmt.Fprintf(&svcs, "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: %s}\nspec: {ports: [{port: 80}]}\n---\n", s)
	}
	if out, ok := weft(t, c.api, svcs.String(), "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cp := append([]string{"--control", c.api, "--xds", c.xds, "--probe-interval", "100ms"}, c.runCreds()...)
	// The test calls frontend as a meshed client would, through a sidecar
	// (frontend's inbound is STRICT mTLS): the client's own weft run.
	clientProxy := freePort(t)
	for _, h := range []struct{ name, next, delay string }{{"slow", "", "0.3"}, {"backend", "slow", "0"}, {"frontend", "backend", "0"}, {"client", "", "0"}} {
		t.Setenv("NAME", h.name)
		t.Setenv("NEXT", h.next)
		t.Setenv("DELAY", h.delay)
		args := append(append([]string{bin.weft, "run"}, cp...), "--service", h.name, "--id", h.name+"-1")
		if h.name == "client" {
			args = append(args, "--proxy", clientProxy)
		}
		start(t, "weft run "+h.name, append(args, "--", "python3", "-c", pyHop)...)
		eventually(t, 40*time.Second, h.name+" registered ready", func() bool {
			in, ok := instance(t, c.api, h.name, h.name+"-1")
			return ok && in.Ready
		})
	}
	pu, _ := url.Parse("http://" + clientProxy)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(pu)}}
	t.Cleanup(client.CloseIdleConnections)
	var body string
	eventually(t, 30*time.Second, "the chain answers", func() bool {
		resp, err := client.Get("http://frontend/")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		body = string(b)
		return resp.StatusCode == 200
	})
	if body != "frontend > backend > slow" {
		t.Fatalf("chain answered %q", body)
	}

	// client outbound, frontend inbound, frontend outbound, backend
	// inbound, backend outbound, slow inbound: a server and a client span
	// each.
	const want = 12
	var trace []spanOf
	eventually(t, 30*time.Second, "12 spans of one trace at the collector", func() bool {
		byTrace := map[string][]spanOf{}
		for _, s := range rcv.all() {
			k := hex.EncodeToString(s.span.TraceId)
			byTrace[k] = append(byTrace[k], s)
		}
		for _, ss := range byTrace {
			if len(ss) >= want && len(ss) > len(trace) {
				trace = ss
			}
		}
		return len(trace) >= want
	})
	// An earlier readiness call through the chain may have made its own
	// trace; the one asserted on is complete and linked.
	ids := map[string]spanOf{}
	var roots []spanOf
	for _, s := range trace {
		ids[hex.EncodeToString(s.span.SpanId)] = s
	}
	for _, s := range trace {
		if len(s.span.ParentSpanId) == 0 {
			roots = append(roots, s)
			continue
		}
		if _, ok := ids[hex.EncodeToString(s.span.ParentSpanId)]; !ok {
			t.Errorf("span %s/%s (%v) has a parent %x that is not in the trace", s.service, s.span.Name, s.span.Kind, s.span.ParentSpanId)
		}
	}
	if len(trace) != want || len(roots) != 1 || roots[0].service != "client" || roots[0].span.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Fatalf("trace of %d spans with roots %v; want %d spans and one client server root", len(trace), roots, want)
	}
	// depth: walking parents from the slow service's client span (its
	// sidecar calling the slow app) reaches the root in 11 steps.
	var deepest spanOf
	for _, s := range trace {
		if s.service == "slow" && s.span.Kind == tracepb.Span_SPAN_KIND_CLIENT {
			deepest = s
		}
	}
	if deepest.span == nil {
		t.Fatal("no client span from the slow service's sidecar")
	}
	depth := 0
	for s := deepest; len(s.span.ParentSpanId) > 0; s = ids[hex.EncodeToString(s.span.ParentSpanId)] {
		depth++
	}
	if depth != want-1 {
		t.Fatalf("the slow hop is %d links from the root, want %d (a chain)", depth, want-1)
	}
	// The slow hop is visible: the call into the slow app took >= 300 ms,
	// and every other service's own time (its span minus its child's) is
	// small next to it.
	dur := func(s *tracepb.Span) time.Duration { return time.Duration(s.EndTimeUnixNano - s.StartTimeUnixNano) }
	if d := dur(deepest.span); d < 300*time.Millisecond {
		t.Fatalf("slow app's span lasted %v, want >= 300ms", d)
	}
	for _, s := range trace {
		if s.span.Kind == tracepb.Span_SPAN_KIND_SERVER && s.service != "slow" && s.service != "client" {
			for _, child := range trace {
				if bytes.Equal(child.span.ParentSpanId, s.span.SpanId) {
					if self := dur(s.span) - dur(child.span); self > 150*time.Millisecond {
						t.Errorf("%s's sidecar spent %v of its own, more than the slow hop's share", s.service, self)
					}
				}
			}
		}
		if spanAttr(s.span, "http.request.method") != "GET" {
			t.Errorf("span %s lacks its method", s.span.Name)
		}
	}
}

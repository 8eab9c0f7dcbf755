package otlp

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// collector is an OTLP/HTTP receiver on loopback that decodes with the
// official generated types.
type collector struct {
	mu    sync.Mutex
	reqs  []*coltrace.ExportTraceServiceRequest
	ctype []string
	got   chan struct{}
	fail  bool
	// script answers the requests in order with these statuses; past
	// its end, fail decides.
	script []int
}

func newCollector(t *testing.T) (*collector, *httptest.Server) {
	c := &collector{got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Method != http.MethodPost {
			http.NotFound(w, r)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var req coltrace.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Errorf("collector: undecodable export: %v", err)
		}
		c.mu.Lock()
		c.reqs = append(c.reqs, &req)
		c.ctype = append(c.ctype, r.Header.Get("Content-Type"))
		fail := c.fail
		code := http.StatusOK
		if len(c.script) > 0 {
			code, c.script = c.script[0], c.script[1:]
		} else if fail {
			code = http.StatusServiceUnavailable
		}
		c.mu.Unlock()
		w.WriteHeader(code)
		c.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return c, srv
}

func span(name string, kind tracing.Kind, status int, flags string) *tracing.Span {
	s := &tracing.Span{Name: name, Kind: kind, Method: "GET", Authority: "catalog", Path: "/items", Status: status,
		Flags: flags, Cluster: "catalog", Upstream: "127.0.0.1:9", RequestID: "abc", Direction: "outbound",
		Start: time.Unix(1700000000, 5), End: time.Unix(1700000001, 7)}
	s.Trace[0], s.ID[0], s.Parent[0] = 1, 2, 3
	return s
}

func TestExportDecodesWithOfficialTypes(t *testing.T) {
	col, srv := newCollector(t)
	e, err := New(Config{Endpoint: srv.URL, Interval: 10 * time.Millisecond,
		Resource: Resource{ServiceName: "frontend", ServiceVersion: "v1", Namespace: "default", Instance: "frontend-1"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	e.Export(span("GET catalog", tracing.KindClient, 200, ""))
	e.Export(span("GET catalog", tracing.KindServer, 503, "UH"))
	<-col.got
	cancel()
	<-done

	col.mu.Lock()
	defer col.mu.Unlock()
	if col.ctype[0] != "application/x-protobuf" {
		t.Errorf("content type %q", col.ctype[0])
	}
	checkTwoSpans(t, col.reqs)
	if st := e.Stats(); st.Exported != 2 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestExportNeverBlocks(t *testing.T) {
	e, err := New(Config{Endpoint: "http://127.0.0.1:1", QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 { // Run is not running: the queue fills, the rest drop
		e.Export(span("x", tracing.KindServer, 200, ""))
	}
	if st := e.Stats(); st.Dropped != 6 {
		t.Fatalf("dropped %d, want 6", st.Dropped)
	}
}

func TestFailedExportCounted(t *testing.T) {
	col, srv := newCollector(t)
	col.fail = true
	e, _ := New(Config{Endpoint: srv.URL + "/v1/traces", Interval: 10 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	e.Export(span("x", tracing.KindServer, 200, ""))
	<-col.got
	cancel()
	<-done
	if st := e.Stats(); st.Failed != 1 || st.Exported != 0 {
		t.Fatalf("stats %+v, want one failed", st)
	}
}

func TestEndpointChecked(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":            "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":           "http://127.0.0.1:4318/v1/traces",
		"https://otel.example/custom/path": "https://otel.example/custom/path",
	} {
		if got, err := tracesURL(in); err != nil || got != want {
			t.Errorf("tracesURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"127.0.0.1:4318", "grpc://x:4317", "http://", ""} {
		if _, err := tracesURL(bad); err == nil {
			t.Errorf("tracesURL(%q) accepted", bad)
		}
	}
}

// checkTwoSpans asserts that reqs hold the client and server span the
// export tests send, intact: resource, scope, ids, times, attributes.
func checkTwoSpans(t *testing.T, reqs []*coltrace.ExportTraceServiceRequest) {
	t.Helper()
	var spans []*tracepb.Span
	for _, r := range reqs {
		for _, rs := range r.ResourceSpans {
			attrs := map[string]string{}
			for _, kv := range rs.Resource.Attributes {
				attrs[kv.Key] = kv.Value.GetStringValue()
			}
			if attrs["service.name"] != "frontend" || attrs["service.version"] != "v1" || attrs["service.instance.id"] != "frontend-1" {
				t.Errorf("resource attributes %v", attrs)
			}
			for _, ss := range rs.ScopeSpans {
				if ss.Scope.GetName() != "weft" {
					t.Errorf("scope %q", ss.Scope.GetName())
				}
				spans = append(spans, ss.Spans...)
			}
		}
	}
	if len(spans) != 2 {
		t.Fatalf("collector got %d spans, want 2", len(spans))
	}
	c, s := spans[0], spans[1]
	if c.Kind != tracepb.Span_SPAN_KIND_CLIENT || s.Kind != tracepb.Span_SPAN_KIND_SERVER {
		t.Errorf("kinds %v %v", c.Kind, s.Kind)
	}
	if !bytes.Equal(c.TraceId[:1], []byte{1}) || len(c.TraceId) != 16 || len(c.SpanId) != 8 || c.ParentSpanId[0] != 3 {
		t.Errorf("ids: trace %x span %x parent %x", c.TraceId, c.SpanId, c.ParentSpanId)
	}
	if c.StartTimeUnixNano != 1700000000000000005 || c.EndTimeUnixNano != 1700000001000000007 || c.Name != "GET catalog" {
		t.Errorf("times/name %d %d %q", c.StartTimeUnixNano, c.EndTimeUnixNano, c.Name)
	}
	attrs := map[string]any{}
	for _, kv := range s.Attributes {
		if kv.Key == "http.response.status_code" {
			attrs[kv.Key] = kv.Value.GetIntValue()
			continue
		}
		attrs[kv.Key] = kv.Value.GetStringValue()
	}
	if attrs["http.request.method"] != "GET" || attrs["url.path"] != "/items" || attrs["weft.response_flags"] != "UH" || attrs["http.response.status_code"] != int64(503) {
		t.Errorf("server span attributes %v", attrs)
	}
	if s.Status.GetCode() != tracepb.Status_STATUS_CODE_ERROR || c.Status.GetCode() != tracepb.Status_STATUS_CODE_UNSET {
		t.Errorf("status: server %v client %v", s.Status, c.Status)
	}
}

// OTLP/HTTP retries 429/502/503/504 and nothing else.
func TestHTTPRetryPolicy(t *testing.T) {
	for _, tt := range []struct {
		script           []int
		calls            int
		exported, failed uint64
	}{
		{[]int{503, 429}, 3, 1, 0},
		{[]int{400}, 1, 0, 1},
	} {
		col, srv := newCollector(t)
		col.script = tt.script
		e, _ := New(Config{Endpoint: srv.URL, Interval: 5 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
		stop := running(e)
		e.Export(span("x", tracing.KindServer, 200, ""))
		waitFor(t, "the batch settled", func() bool { st := e.Stats(); return st.Exported+st.Failed == 1 })
		stop()
		col.mu.Lock()
		calls := len(col.reqs)
		col.mu.Unlock()
		if st := e.Stats(); st.Exported != tt.exported || st.Failed != tt.failed || calls != tt.calls {
			t.Errorf("answers %v: stats %+v after %d calls; want exported %d failed %d after %d", tt.script, st, calls, tt.exported, tt.failed, tt.calls)
		}
	}
}

package accesslog

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Split(strings.TrimSuffix(s.b.String(), "\n"), "\n")
}

func logLines(t *testing.T, cfg Config, spans ...*tracing.Span) []map[string]any {
	t.Helper()
	var buf syncBuf
	l, err := New(&buf, cfg)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for _, s := range spans {
		l.Log(s, start, start.Add(1500*time.Microsecond))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.Run(ctx) // writes what is queued, then returns
	var out []map[string]any
	for _, line := range buf.lines() {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLineFields(t *testing.T) {
	s := &tracing.Span{Direction: "outbound", Method: "GET", Authority: "catalog", Path: "/items?x=1", Protocol: "HTTP/1.1",
		Status: 503, Flags: "UH", Cluster: "catalog", RequestID: "r1"}
	s.Trace[15] = 0xab
	got := logLines(t, Config{Sampling: 1}, s)
	if len(got) != 1 {
		t.Fatalf("%d lines", len(got))
	}
	m := got[0]
	if m["start_time"] != "2026-12-02T10:00:00Z" || m["response_code"] != float64(503) || m["response_flags"] != "UH" ||
		m["duration_ms"] != 1.5 || m["path"] != "/items?x=1" || m["trace_id"] != "000000000000000000000000000000ab" {
		t.Fatalf("line %v", m)
	}
	if len(m) != len(DefaultFields) {
		t.Fatalf("%d fields, want %d", len(m), len(DefaultFields))
	}
	got = logLines(t, Config{Fields: []string{"method", "response_code"}, Sampling: 1}, s)
	if len(got[0]) != 2 || got[0]["method"] != "GET" {
		t.Fatalf("chosen fields: %v", got[0])
	}
}

func TestHostileValuesStayOneLine(t *testing.T) {
	s := &tracing.Span{Method: "GET", Path: "/a\"b\\c\n{\"forged\":1}\x00\x7f\xff\xfe", Authority: "h\r\nx"}
	got := logLines(t, Config{Sampling: 1}, s)
	if len(got) != 1 {
		t.Fatalf("hostile request produced %d lines", len(got))
	}
	if got[0]["path"] != "/a\"b\\c\n{\"forged\":1}\x00\x7f\ufffd\ufffd" || got[0]["authority"] != "h\r\nx" {
		t.Fatalf("escaped values: %q %q", got[0]["path"], got[0]["authority"])
	}
}

func TestSamplingKeepsFlaggedRequests(t *testing.T) {
	var spans []*tracing.Span
	for i := range 2000 {
		s := &tracing.Span{Method: "GET", Status: 200}
		if i%10 == 0 {
			s.Flags, s.Status = "UF", 503
		}
		spans = append(spans, s)
	}
	got := logLines(t, Config{Sampling: 0, QueueSize: 5000}, spans...)
	if len(got) != 200 {
		t.Fatalf("logged %d lines, want the 200 flagged ones", len(got))
	}
	for _, m := range got {
		if m["response_flags"] != "UF" {
			t.Fatalf("unflagged line logged at ~0 sampling: %v", m)
		}
	}
}

func TestConfigChecked(t *testing.T) {
	if _, err := New(nil, Config{Fields: []string{"methd"}}); err == nil || !strings.Contains(err.Error(), "methd") {
		t.Fatalf("unknown field: %v", err)
	}
	if _, err := New(nil, Config{Sampling: 2}); err == nil {
		t.Fatal("sampling 2 accepted")
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("plain")
	f.Add("\"\\\n\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		b := appendString(nil, s)
		var back string
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%q -> %q: %v", s, b, err)
		}
		if bytes.ContainsAny(b, "\n\r") {
			t.Fatalf("raw newline in %q", b)
		}
	})
}

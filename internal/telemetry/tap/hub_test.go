package tap

import (
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/telemetry"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

func ev(dir, method, path string, status int) *Event {
	return &Event{Direction: dir, Method: method, Path: path, Status: status}
}

func TestFilter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		query string
		e     *Event
		want  bool
	}{
		{"empty matches all", "", ev("inbound", "GET", "/x", 200), true},
		{"path prefix", "path=/api", ev("inbound", "GET", "/api/items", 200), true},
		{"path prefix miss", "path=/api", ev("inbound", "GET", "/health", 200), false},
		{"method", "method=POST", ev("inbound", "GET", "/", 200), false},
		{"status exact", "status=404", ev("inbound", "GET", "/", 404), true},
		{"status exact miss", "status=404", ev("inbound", "GET", "/", 403), false},
		{"status class", "status=5xx", ev("outbound", "GET", "/", 503), true},
		{"status class miss", "status=5xx", ev("outbound", "GET", "/", 404), false},
		{"direction", "direction=outbound", ev("inbound", "GET", "/", 200), false},
		{"all at once", "direction=inbound&path=/a&method=GET&status=2xx", ev("inbound", "GET", "/a/b", 204), true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			q, _ := url.ParseQuery(c.query)
			o, err := ParseQuery(q)
			if err != nil {
				t.Fatal(err)
			}
			if got := o.Filter.Match(c.e); got != c.want {
				t.Errorf("match %+v with %q = %v, want %v", c.e, c.query, got, c.want)
			}
		})
	}
}

func TestParseQueryRefuses(t *testing.T) {
	t.Parallel()
	for query, want := range map[string]string{
		"direction=up":          "direction",
		"path=api":              "path",
		"path=/a%3Fb":           "path",
		"method=get":            "method",
		"status=600":            "status",
		"status=4x":             "status",
		"rate=0":                "rate",
		"rate=1001":             "rate",
		"duration=31m":          "duration",
		"duration=-1s":          "duration",
		"headers=authorization": `"headers": unknown`,
	} {
		q, _ := url.ParseQuery(query)
		if _, err := ParseQuery(q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want one naming %s", query, err, want)
		}
	}
	o, err := ParseQuery(url.Values{})
	if err != nil || o.Rate != DefaultRate || o.Duration != MaxDuration {
		t.Errorf("defaults: %+v %v", o, err)
	}
	q, _ := url.ParseQuery("direction=inbound&path=/a&method=GET&status=4xx&rate=7&duration=5s")
	o, _ = ParseQuery(q)
	if back, err := ParseQuery(o.Query()); err != nil || back != o {
		t.Errorf("Query does not read back: %+v vs %+v (%v)", back, o, err)
	}
}

func FuzzParseQuery(f *testing.F) {
	f.Add("direction=inbound&path=/a&method=GET&status=4xx&rate=7&duration=5s")
	f.Add("status=404&rate=1000")
	f.Add("path=%00&method=%C3%A9")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		o, err := ParseQuery(q)
		if err != nil {
			return
		}
		if o.Rate < 1 || o.Rate > MaxRate || o.Duration <= 0 || o.Duration > MaxDuration {
			t.Fatalf("limits out of range: %+v", o)
		}
		if back, err := ParseQuery(o.Query()); err != nil || back != o {
			t.Fatalf("Query does not read back: %+v vs %+v (%v)", back, o, err)
		}
	})
}

func TestBuildHasNoQueryAndNoBody(t *testing.T) {
	t.Parallel()
	r := &telemetry.Request{Code: 404, GRPCStatus: -1, Duration: 1500 * time.Microsecond, Flag: telemetry.FlagNoRoute,
		Source: telemetry.Workload{Name: "web", Version: "v1"}, Service: telemetry.Service{Host: "catalog.shop"}}
	s := &tracing.Span{Direction: "outbound", Method: "GET", Authority: "catalog", Path: "/items?token=secret", Trace: tracing.TraceID{1}}
	e := Build(r, s, time.Unix(1, 0))
	if e.Path != "/items" || e.Status != 404 || e.DurationMs != 1.5 || e.ResponseFlags != "NR" || e.Source.Workload != "web" ||
		e.Destination.Service != "catalog.shop" || e.TraceID != "01000000000000000000000000000000" {
		t.Errorf("event %+v", e)
	}
	s.Path = "/" + strings.Repeat("a", 2*MaxPath)
	if e := Build(r, s, time.Now()); len(e.Path) != MaxPath {
		t.Errorf("path of %d bytes, want it cut at %d", len(e.Path), MaxPath)
	}
}

func TestInactiveHub(t *testing.T) {
	var nilHub *Hub
	var h Hub
	if nilHub.Active() || h.Active() {
		t.Fatal("a hub with no session is active")
	}
	s, err := h.Open(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !h.Active() {
		t.Fatal("a hub with a session is not active")
	}
	s.Close()
	s.Close()
	if h.Active() {
		t.Fatal("closed twice, the hub still counts the session")
	}
	if a := testing.AllocsPerRun(1000, func() { _ = h.Active() }); a != 0 {
		t.Errorf("Active allocates %v", a)
	}
}

func TestSessionCap(t *testing.T) {
	t.Parallel()
	var h Hub
	var open []*Session
	for range MaxSessions {
		s, err := h.Open(Options{})
		if err != nil {
			t.Fatal(err)
		}
		open = append(open, s)
	}
	if _, err := h.Open(Options{}); !errors.Is(err, ErrTooManySessions) {
		t.Fatalf("session %d: %v, want ErrTooManySessions", MaxSessions+1, err)
	}
	open[3].Close()
	s, err := h.Open(Options{})
	if err != nil {
		t.Fatalf("a freed slot is not reused: %v", err)
	}
	s.Close()
}

// TestRateCapAndDrops: a flood gets the burst through and no more; what
// the reader does not take is dropped and counted, never blocks.
func TestRateCapAndDrops(t *testing.T) {
	t.Parallel()
	var h Hub
	s, err := h.Open(Options{Rate: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, _ := h.Open(Options{Filter: Filter{Status: 500}})
	defer other.Close()
	const n = 5000
	began := time.Now()
	for range n {
		h.Publish(ev("inbound", "GET", "/", 200))
	}
	// The burst (1000) plus what refilled while publishing.
	most := uint64(1000 + time.Since(began).Seconds()*1000 + 1)
	st := s.Stats()
	sent := st.Matched - st.RateLimited - st.Dropped
	if st.Matched != n || sent+st.Dropped > most || st.RateLimited < n-most {
		t.Errorf("stats %+v after %d events at 1000/s, want at most %d through the bucket", st, n, most)
	}
	if sent != uint64(len(s.Events())) || sent != BufferSize || st.Dropped == 0 {
		t.Errorf("%d sent, %d buffered (buffer %d), %d dropped", sent, len(s.Events()), BufferSize, st.Dropped)
	}
	if o := other.Stats(); o.Matched != 0 || len(other.Events()) != 0 {
		t.Errorf("a session filtering on 500 got %+v", o)
	}
}

func TestBucketRefills(t *testing.T) {
	t.Parallel()
	now := time.Unix(100, 0)
	b := NewBucket(10, now)
	n := 0
	for range 100 {
		if b.Allow(now) {
			n++
		}
	}
	if n != 10 {
		t.Fatalf("burst %d, want 10", n)
	}
	if b.Allow(now.Add(50 * time.Millisecond)) {
		t.Error("a token after 50ms at 10/s")
	}
	if !b.Allow(now.Add(150 * time.Millisecond)) {
		t.Error("no token after 150ms at 10/s")
	}
	// Refill stops at one second's worth.
	later, n := now.Add(time.Hour), 0
	for range 100 {
		if b.Allow(later) {
			n++
		}
	}
	if n != 10 {
		t.Errorf("after an hour idle, %d tokens, want the burst of 10", n)
	}
}

// TestConcurrentPublishAndSessions is for -race: engines publish while
// sessions open and close.
func TestConcurrentPublishAndSessions(t *testing.T) {
	t.Parallel()
	var h Hub
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					h.Publish(ev("inbound", "GET", "/", 200))
				}
			}
		}()
	}
	for range 200 {
		s, err := h.Open(Options{Rate: 1000})
		if err != nil {
			t.Error(err)
			break
		}
		select {
		case <-s.Events():
		case <-time.After(5 * time.Second):
			t.Error("no event within 5s while publishing")
		}
		s.Close()
	}
	close(stop)
	wg.Wait()
	if h.Active() {
		t.Error("sessions left open")
	}
}

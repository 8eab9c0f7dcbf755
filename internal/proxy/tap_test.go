package proxy

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// nextEvent waits for a session's next event.
func nextEvent(t *testing.T, s *tap.Session) tap.Event {
	t.Helper()
	select {
	case e := <-s.Events():
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no tap event within 5s")
		return tap.Event{}
	}
}

// TestTapBothEngines: each engine publishes a finished request with its
// status, path (no query), method, authority, destination and upstream;
// an engine with no session open publishes nothing.
func TestTapBothEngines(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte("hello"))
	}))
	defer up.Close()
	upAddr := up.Listener.Addr().String()
	self := NewSelf(telemetry.Workload{Name: "web", Version: "v1"}, telemetry.Service{Host: "web.default"})
	var hub tap.Hub
	h1 := serveEngine(t, NewHTTP1(HTTP1Config{Name: "t1", Direction: "outbound", Runtime: newRuntime(t, upAddr, cluster.HTTP1, 0), Tap: &hub, Self: self}))
	h2 := serveEngine(t, NewHTTP2(HTTP2Config{Name: "t2", Direction: "outbound", Runtime: newRuntime(t, upAddr, cluster.HTTP1, 0), Tap: &hub, Self: self}))

	for _, e := range []struct {
		name   string
		client *http.Client
		addr   string
	}{{"http1", &http.Client{Timeout: 5 * time.Second}, h1}, {"http2", h2cClient(), h2}} {
		t.Run(e.name, func(t *testing.T) {
			get := func(path string) int {
				req, _ := http.NewRequest("GET", "http://"+e.addr+path, nil)
				req.Host = "catalog"
				resp, err := e.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp.StatusCode
			}
			get("/before") // no session: nothing is kept for a later one
			s, err := hub.Open(tap.Options{Filter: tap.Filter{PathPrefix: "/missing"}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			get("/other")
			if code := get("/missing?token=secret"); code != 404 {
				t.Fatalf("status %d", code)
			}
			ev := nextEvent(t, s)
			if ev.Path != "/missing" || ev.Status != 404 || ev.Method != "GET" || ev.Authority != "catalog" || ev.Direction != "outbound" ||
				ev.Source.Workload != "web" || ev.Source.Version != "v1" || ev.Upstream != upAddr || ev.DurationMs <= 0 || ev.Time.IsZero() {
				t.Errorf("event %+v", ev)
			}
			if st := s.Stats(); st.Matched != 1 || len(s.Events()) != 0 {
				t.Errorf("stats %+v, %d more buffered: want the one /missing request", st, len(s.Events()))
			}
			if strings.Contains(ev.Path, "secret") {
				t.Error("the query string reached the tap")
			}
		})
	}
}

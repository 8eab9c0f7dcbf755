package meshtap

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/weft-mesh/weft/internal/api"
	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sidecar is a real tap endpoint on loopback, as a sidecar's admin port
// serves it.
type sidecar struct {
	hub  tap.Hub
	stop chan struct{}
	srv  *httptest.Server
}

func newSidecar(t *testing.T) *sidecar {
	s := &sidecar{stop: make(chan struct{})}
	s.srv = httptest.NewServer(tap.Handler(&s.hub, s.stop))
	t.Cleanup(func() {
		close(s.stop)
		s.srv.Close()
	})
	return s
}

func (s *sidecar) admin() string { return s.srv.Listener.Addr().String() }

func newTapper(t *testing.T, cfg Config, sidecars ...*sidecar) *Tapper {
	cfg.Instances = func(_ context.Context, service string) ([]api.Instance, error) {
		if service != "catalog" {
			return nil, nil
		}
		var out []api.Instance
		for i, s := range sidecars {
			out = append(out, api.Instance{Service: "catalog", ID: string(rune('a' + i)), Admin: s.admin()})
		}
		return out, nil
	}
	tp := New(cfg)
	t.Cleanup(tp.cfg.Client.CloseIdleConnections)
	return tp
}

// waitActive polls until every sidecar has a session open.
func waitActive(t *testing.T, want bool, ss ...*sidecar) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		all := true
		for _, s := range ss {
			all = all && s.hub.Active() == want
		}
		if all {
			return
		}
		if time.Now().After(end) {
			t.Fatalf("sidecar sessions active != %v after 5s", want)
		}
	}
}

func publish(s *sidecar, path string, status int) {
	s.hub.Publish(&tap.Event{Direction: "inbound", Method: "GET", Path: path, Status: status, GRPCStatus: -1})
}

type collected struct {
	mu    sync.Mutex
	lines []api.TapLine
}

func (c *collected) emit(l api.TapLine) error {
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
	return nil
}

func (c *collected) events() (out []api.TapLine) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, l := range c.lines {
		if l.Event != nil {
			out = append(out, l)
		}
	}
	return out
}

func (c *collected) last() api.TapLine {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines[len(c.lines)-1]
}

func TestMergesSidecarsUntilMax(t *testing.T) {
	a, b := newSidecar(t), newSidecar(t)
	tp := newTapper(t, Config{}, a, b)
	var got collected
	done := make(chan error, 1)
	go func() {
		done <- tp.Tap(context.Background(), api.TapQuery{Service: "catalog", Path: "/items", Max: 4}, got.emit)
	}()
	waitActive(t, true, a, b)
	publish(a, "/health", 200)
	publish(a, "/items/1", 200)
	publish(b, "/items/2", 404)
	publish(a, "/items/3", 200)
	publish(b, "/items/4", 200)
	publish(b, "/items/5", 200)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	evs := got.events()
	from := map[string]int{}
	for _, l := range evs {
		from[l.Instance]++
		if !strings.HasPrefix(l.Event.Path, "/items/") {
			t.Errorf("filtered out path %q came through", l.Event.Path)
		}
	}
	if len(evs) != 4 || from["catalog/a"] == 0 || from["catalog/b"] == 0 || got.last().End != "max" {
		t.Errorf("%d events from %v, last line %+v; want 4 from both sidecars, then end max", len(evs), from, got.last())
	}
	waitActive(t, false, a, b) // the sidecars' sessions closed with the tap
}

// TestTotalRateCap: two flooded sidecars at 20 events/s each get 20/s
// through in total (plus one second's burst), and the rest is counted.
func TestTotalRateCap(t *testing.T) {
	a, b := newSidecar(t), newSidecar(t)
	tp := newTapper(t, Config{}, a, b)
	var got collected
	done := make(chan error, 1)
	const rate, dur = 20, 1500 * time.Millisecond
	began := time.Now()
	go func() {
		done <- tp.Tap(context.Background(), api.TapQuery{Service: "catalog", Rate: rate, Duration: dur}, got.emit)
	}()
	waitActive(t, true, a, b)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, s := range []*sidecar{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					publish(s, "/flood", 200)
					time.Sleep(100 * time.Microsecond)
				}
			}
		}()
	}
	err := <-done
	took := time.Since(began)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	n := len(got.events())
	// The cap: one second's burst, then rate a second for as long as
	// the tap ran.
	if most := rate + int(rate*took.Seconds()); n > most || n < rate {
		t.Errorf("%d events in %s at %d/s, want %d to %d", n, took, rate, rate, most)
	}
	got.mu.Lock()
	st := got.lines[len(got.lines)-2].Stats
	got.mu.Unlock()
	if st != nil && st.Matched != st.Sent+st.RateLimited+st.Dropped {
		t.Errorf("closing stats %+v: matched is not sent + rate-limited + dropped", *st)
	}
	if st == nil || st.RateLimited == 0 || st.Sent != uint64(n) || got.last().End != "duration" {
		t.Errorf("closing stats %+v, end %+v; want rate-limited counted, %d sent, end duration", st, got.last(), n)
	}
}

// TestClientLeaves: when the client goes away, Tap returns, every sidecar
// stream is closed, and no goroutine is left (TestMain checks).
func TestClientLeaves(t *testing.T) {
	a, b := newSidecar(t), newSidecar(t)
	tp := newTapper(t, Config{}, a, b)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tp.Tap(ctx, api.TapQuery{Service: "catalog"}, func(api.TapLine) error { return nil }) }()
	waitActive(t, true, a, b)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("tap ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("tap did not end within 5s of its client leaving")
	}
	waitActive(t, false, a, b)
}

func TestRefusals(t *testing.T) {
	a := newSidecar(t)
	tp := newTapper(t, Config{MaxTaps: 1}, a)
	ctx := context.Background()
	nop := func(api.TapLine) error { return nil }
	for q, want := range map[*api.TapQuery]error{
		{Service: "nosuch"}:                          apiserver.ErrNotFound,
		{Service: "catalog", Status: "6xx"}:          apiserver.ErrInvalid,
		{Service: "catalog", Rate: 5000}:             apiserver.ErrInvalid,
		{Service: "a/b"}:                             apiserver.ErrInvalid,
		{Service: "catalog", Duration: -time.Second}: apiserver.ErrInvalid,
	} {
		if err := tp.Tap(ctx, *q, nop); !errors.Is(err, want) {
			t.Errorf("%+v: %v, want %v", *q, err, want)
		}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- tp.Tap(ctx, api.TapQuery{Service: "catalog"}, nop) }()
	waitActive(t, true, a)
	if err := tp.Tap(context.Background(), api.TapQuery{Service: "catalog"}, nop); !errors.Is(err, apiserver.ErrBusy) {
		t.Errorf("second tap past MaxTaps 1: %v, want ErrBusy", err)
	}
	cancel()
	<-done
}

// TestSilentSidecar: a sidecar that answers and then says nothing is
// reported and dropped; the tap ends when no sidecar is left.
func TestSilentSidecar(t *testing.T) {
	silent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
	defer silent.Close()
	tp := New(Config{IdleTimeout: 200 * time.Millisecond, Instances: func(context.Context, string) ([]api.Instance, error) {
		return []api.Instance{{Service: "catalog", ID: "x", Admin: silent.Listener.Addr().String()}}, nil
	}})
	defer tp.cfg.Client.CloseIdleConnections()
	var got collected
	err := tp.Tap(context.Background(), api.TapQuery{Service: "catalog"}, got.emit)
	if err == nil || len(got.lines) == 0 || !strings.Contains(got.lines[0].Error, "silent") {
		t.Errorf("err %v, lines %+v; want the silent sidecar reported", err, got.lines)
	}
}

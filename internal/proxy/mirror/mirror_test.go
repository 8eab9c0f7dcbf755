package mirror

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

func testCluster(t *testing.T, addr string) *cluster.Cluster {
	t.Helper()
	set, err := cluster.NewSet([]cluster.Config{{Name: "shadow", Endpoints: []cluster.EndpointConfig{{Address: addr}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cluster.Retire(set, nil) })
	return set.Get("shadow")
}

func TestShadowHost(t *testing.T) {
	for in, want := range map[string]string{
		"catalog": "catalog-shadow", "catalog:80": "catalog-shadow:80",
		"[::1]:8080": "[::1]-shadow:8080", "[::1]": "[::1]-shadow", "a.b:": "a.b:-shadow",
	} {
		if got := ShadowHost(in); got != want {
			t.Errorf("ShadowHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// Copies arrive with their method, target, Host, headers and body; the
// sender counts them sent.
func TestSendDelivers(t *testing.T) {
	got := make(chan *http.Request, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(nil)
		r.Header.Set("X-Body", string(b))
		got <- r
	}))
	defer srv.Close()
	var sent atomic.Int64
	s := New(Config{Observe: func(r string) {
		if r == Sent {
			sent.Add(1)
		}
	}})
	cl := testCluster(t, srv.Listener.Addr().String())
	if !s.Send(cl, &Request{Method: "PUT", Host: "a-shadow", Target: "/x?y=1", Header: http.Header{"X-A": {"1"}}, Body: []byte("hi")}) {
		t.Fatal("dropped")
	}
	r := <-got
	if r.Method != "PUT" || r.Host != "a-shadow" || r.RequestURI != "/x?y=1" || r.Header.Get("X-A") != "1" || r.Header.Get("X-Body") != "hi" {
		t.Errorf("got %s %s %s %v", r.Method, r.Host, r.RequestURI, r.Header)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err != nil || sent.Load() != 1 {
		t.Fatalf("wait %v, sent %d", err, sent.Load())
	}
}

// At the bound, copies are dropped at once; the timeout frees the slots.
func TestBoundAndTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	counts := map[string]*atomic.Int64{Sent: {}, Dropped: {}, Failed: {}}
	s := New(Config{MaxInFlight: 2, Timeout: 200 * time.Millisecond, Observe: func(r string) { counts[r].Add(1) }})
	cl := testCluster(t, srv.Listener.Addr().String())
	for i := 0; i < 5; i++ {
		start := time.Now()
		s.Send(cl, &Request{Method: "GET", Host: "h", Target: "/"})
		if d := time.Since(start); d > 50*time.Millisecond {
			t.Fatalf("Send blocked %v", d)
		}
	}
	if counts[Dropped].Load() != 3 {
		t.Errorf("dropped %d, want 3 past the bound of 2", counts[Dropped].Load())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatal(err)
	}
	if counts[Failed].Load() != 2 || s.InFlight("shadow") != 0 {
		t.Errorf("failed %d (want 2 timed out), in flight %d", counts[Failed].Load(), s.InFlight("shadow"))
	}
}

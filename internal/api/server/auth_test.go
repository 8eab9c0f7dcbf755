package server

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

// backendStub answers every call; Apply blocks while block is open, so
// the in-flight cap can be filled.
type backendStub struct {
	Backend
	block   chan struct{}
	entered chan struct{}
	mu      sync.Mutex
	caller  Caller
}

func (b *backendStub) Apply(ctx context.Context, _ []byte, _ bool) (api.ApplyResult, error) {
	b.mu.Lock()
	b.caller = CallerFrom(ctx)
	b.mu.Unlock()
	if b.block != nil {
		b.entered <- struct{}{}
		<-b.block
	}
	return api.ApplyResult{}, nil
}

func (b *backendStub) History(context.Context) ([]api.Revision, error) { return nil, nil }

type authStub struct{}

func (authStub) Operator(_ context.Context, tok string) bool { return tok == "weftop_good" }
func (authStub) Workload([][]byte) (string, error)           { return "", errors.New("no") }

func do(h http.Handler, method, path, remote, auth string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader("{}"))
	r.RemoteAddr = remote
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestGuard(t *testing.T) {
	b := &backendStub{}
	h := Handler(b, Config{Auth: authStub{}})
	for _, tc := range []struct {
		name, method, path, remote, auth string
		want                             int
	}{
		{"read from loopback", "GET", "/v1/history", "127.0.0.1:5000", "", 200},
		{"read from ::1", "GET", "/v1/history", "[::1]:5000", "", 200},
		{"read from elsewhere", "GET", "/v1/history", "10.0.0.9:5000", "", 401},
		{"read from elsewhere with the token", "GET", "/v1/history", "10.0.0.9:5000", "Bearer weftop_good", 200},
		{"write without a token", "POST", "/v1/apply", "127.0.0.1:5000", "", 401},
		{"write with a wrong token", "POST", "/v1/apply", "127.0.0.1:5000", "Bearer weftop_bad", 401},
		{"write with another scheme", "POST", "/v1/apply", "127.0.0.1:5000", "Basic weftop_good", 401},
		{"write with an oversized header", "POST", "/v1/apply", "127.0.0.1:5000", "Bearer " + strings.Repeat("a", 600), 401},
		{"write with the token", "POST", "/v1/apply", "10.0.0.9:5000", "bearer  weftop_good ", 200},
		{"token creation without a token", "POST", "/v1/tokens", "127.0.0.1:5000", "", 401},
		{"rollback without a token", "POST", "/v1/rollback/1", "127.0.0.1:5000", "", 401},
		{"root rotation without a token", "POST", "/v1/ca/rotate", "127.0.0.1:5000", "", 401},
		{"root rotation with a wrong token", "POST", "/v1/ca/rotate", "127.0.0.1:5000", "Bearer weftop_bad", 401},
		{"delete without a token", "DELETE", "/v1/resources/svc/default/x", "127.0.0.1:5000", "", 401},
		{"register without identity", "POST", "/v1/instances", "127.0.0.1:5000", "", 401},
		{"deregister without identity", "DELETE", "/v1/instances/a/b", "127.0.0.1:5000", "", 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if w := do(h, tc.method, tc.path, tc.remote, tc.auth); w.Code != tc.want {
				t.Fatalf("%s %s from %s: %d %s; want %d", tc.method, tc.path, tc.remote, w.Code, w.Body, tc.want)
			}
		})
	}
	do(h, "POST", "/v1/apply", "10.0.0.9:5000", "Bearer weftop_good")
	if !b.caller.Operator || b.caller.Loopback {
		t.Fatalf("caller seen by the backend: %+v", b.caller)
	}
}

// TestInFlightCap: past MaxInFlight requests at once, more are answered
// 503 at once; once one finishes, the next is served.
func TestInFlightCap(t *testing.T) {
	b := &backendStub{block: make(chan struct{}), entered: make(chan struct{}, 4)}
	h := Handler(b, Config{Auth: authStub{}, MaxInFlight: 2})
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() { defer wg.Done(); do(h, "POST", "/v1/apply", "127.0.0.1:1", "Bearer weftop_good") }()
	}
	for range 2 {
		select {
		case <-b.entered:
		case <-time.After(5 * time.Second):
			t.Fatal("requests did not reach the backend")
		}
	}
	if w := do(h, "GET", "/v1/history", "127.0.0.1:1", ""); w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("third request in flight: %d %s", w.Code, w.Body)
	}
	close(b.block)
	wg.Wait()
	if w := do(h, "GET", "/v1/history", "127.0.0.1:1", ""); w.Code != http.StatusOK {
		t.Fatalf("after the others finished: %d", w.Code)
	}
}

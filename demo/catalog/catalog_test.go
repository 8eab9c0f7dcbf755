package catalog

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func codes(a *App, path string, n int) map[int]int {
	out := map[int]int{}
	for range n {
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		out[rec.Code]++
	}
	return out
}

func TestFailShare(t *testing.T) {
	a := New("v2")
	if c := codes(a, "/items/1", 50); c[http.StatusOK] != 50 {
		t.Errorf("healthy: %v", c)
	}
	a.SetFailShare(1)
	if c := codes(a, "/items/1", 50); c[http.StatusServiceUnavailable] != 50 {
		t.Errorf("failing all: %v", c)
	}
	if c := codes(a, "/healthz", 20); c[http.StatusOK] != 20 {
		t.Errorf("the probe must pass while requests fail: %v", c)
	}
	a.SetFailShare(0.5)
	if c := codes(a, "/items/1", 2000); c[http.StatusServiceUnavailable] < 850 || c[http.StatusServiceUnavailable] > 1150 {
		t.Errorf("failing half: %v", c)
	}
}

func TestWatchFailFile(t *testing.T) {
	a := New("v2")
	path := filepath.Join(t.TempDir(), "fail")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { a.WatchFailFile(path, 10*time.Millisecond, stop); close(done) }()
	defer func() { close(stop); <-done }()
	wait := func(want int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for codes(a, "/items/1", 1)[want] != 1 || codes(a, "/items/1", 20)[want] != 20 {
			if time.Now().After(deadline) {
				t.Fatalf("never answered %d", want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	wait(http.StatusOK)
	if err := os.WriteFile(path, []byte("1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wait(http.StatusServiceUnavailable)
	os.Remove(path)
	wait(http.StatusOK)
}

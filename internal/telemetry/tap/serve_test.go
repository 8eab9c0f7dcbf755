package tap

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func readLine(t *testing.T, sc *bufio.Scanner) Line {
	t.Helper()
	if !sc.Scan() {
		t.Fatalf("stream ended: %v", sc.Err())
	}
	var l Line
	if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
		t.Fatalf("line %q: %v", sc.Text(), err)
	}
	return l
}

// waitFor polls cond until it holds or 5s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHandlerStreams(t *testing.T) {
	var h Hub
	stop := make(chan struct{})
	srv := httptest.NewServer(Handler(&h, stop))
	defer srv.Close()

	resp, err := http.Get(srv.URL + "?path=/a&duration=3s")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 || ct != "application/x-ndjson" {
		t.Fatalf("%s %s", resp.Status, ct)
	}
	waitFor(t, "the session", h.Active)
	h.Publish(ev("inbound", "GET", "/b", 200))
	h.Publish(ev("inbound", "GET", "/a/1", 404))
	sc := bufio.NewScanner(resp.Body)
	l := readLine(t, sc)
	if l.Event == nil || l.Event.Path != "/a/1" || l.Event.Status != 404 {
		t.Fatalf("first line %+v, want the /a/1 event only", l)
	}
	var last Line
	for last.End == "" {
		l = readLine(t, sc)
		if l.Event != nil {
			t.Fatalf("unexpected event %+v", l.Event)
		}
		if l.Stats != nil && l.Stats.Matched != 1 {
			t.Errorf("stats %+v, want 1 matched", l.Stats)
		}
		last = l
	}
	if last.End != "duration" {
		t.Errorf("ended with %+v", last)
	}
	waitFor(t, "the session to close", func() bool { return !h.Active() })
}

func TestHandlerRefuses(t *testing.T) {
	var h Hub
	srv := httptest.NewServer(Handler(&h, make(chan struct{})))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "?status=abc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad status filter: %s", resp.Status)
	}
	for range MaxSessions {
		s, _ := h.Open(Options{})
		defer s.Close()
	}
	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("ninth session: %s, want 429", resp.Status)
	}
}

// TestHandlerEndsWithItsClient: a client that goes away frees the
// session's slot, and stop ends the others with "shutdown".
func TestHandlerEndsWithItsClient(t *testing.T) {
	var h Hub
	stop := make(chan struct{})
	srv := httptest.NewServer(Handler(&h, stop))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the session", h.Active)
	cancel()
	resp.Body.Close()
	waitFor(t, "the session to close after its client left", func() bool { return !h.Active() })

	resp, err = http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, "the session", h.Active)
	close(stop)
	sc := bufio.NewScanner(resp.Body)
	for {
		if l := readLine(t, sc); l.End != "" {
			if l.End != "shutdown" {
				t.Errorf("end %q, want shutdown", l.End)
			}
			break
		}
	}
	http.DefaultClient.CloseIdleConnections()
}

// TestHandlerOutlivesServerTimeouts: the admin server's read and write
// timeouts are for probes and scrapes; a tap stream lives past them.
func TestHandlerOutlivesServerTimeouts(t *testing.T) {
	var h Hub
	srv := httptest.NewUnstartedServer(Handler(&h, make(chan struct{})))
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv.Start()
	defer srv.Close()
	resp, err := http.Get(srv.URL + "?duration=1500ms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	waitFor(t, "the session", h.Active)
	time.Sleep(time.Second) // past both timeouts, by design of this test
	h.Publish(ev("inbound", "GET", "/late", 200))
	sc := bufio.NewScanner(resp.Body)
	var got []Line
	for sc.Scan() {
		var l Line
		json.Unmarshal(sc.Bytes(), &l)
		got = append(got, l)
	}
	if len(got) < 2 || got[0].Event == nil || got[0].Event.Path != "/late" || got[len(got)-1].End != "duration" {
		t.Errorf("lines %+v (%v); want the late event and the end", got, sc.Err())
	}
	http.DefaultClient.CloseIdleConnections()
}

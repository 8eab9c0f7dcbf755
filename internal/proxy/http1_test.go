package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// recorded is one request as the upstream saw it.
type recorded struct {
	Method, URI string
	Header      http.Header
	Body        string
	Trailer     http.Header
}

// recorder is an HTTP/1.1 upstream that keeps every request it receives, so
// tests can assert that nothing was smuggled past the proxy.
type recorder struct {
	ln     net.Listener
	mu     sync.Mutex
	reqs   []recorded
	conns  atomic.Int32
	handle func(w *bufio.Writer, r *http.Request) bool // optional; true = handled
	wg     sync.WaitGroup
	live   map[net.Conn]bool
}

// closeConns closes every accepted connection, as an upstream restart would.
func (rec *recorder) closeConns() {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for c := range rec.live {
		c.Close()
	}
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{ln: ln, live: map[net.Conn]bool{}}
	rec.wg.Add(1)
	go rec.serve()
	t.Cleanup(func() {
		rec.ln.Close()
		rec.closeConns()
		rec.wg.Wait()
	})
	return rec
}

func (rec *recorder) serve() {
	defer rec.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	for {
		c, err := rec.ln.Accept()
		if err != nil {
			return
		}
		rec.conns.Add(1)
		conns.Add(1)
		rec.mu.Lock()
		if rec.live != nil {
			rec.live[c] = true
		}
		rec.mu.Unlock()
		go func() {
			defer conns.Done()
			defer func() {
				c.Close()
				rec.mu.Lock()
				delete(rec.live, c)
				rec.mu.Unlock()
			}()
			br, bw := bufio.NewReader(c), bufio.NewWriter(c)
			for {
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				r, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				body, _ := io.ReadAll(r.Body)
				rec.mu.Lock()
				rec.reqs = append(rec.reqs, recorded{r.Method, r.RequestURI, r.Header, string(body), r.Trailer})
				rec.mu.Unlock()
				if rec.handle != nil && rec.handle(bw, r) {
					bw.Flush()
					if r.Header.Get("Upgrade") != "" {
						io.Copy(c, br) // echo after a 101
						return
					}
					continue
				}
				fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Upstream: yes\r\n\r\nok")
				bw.Flush()
			}
		}()
	}
}

func (rec *recorder) requests() []recorded {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recorded(nil), rec.reqs...)
}

func (rec *recorder) addr() string { return rec.ln.Addr().String() }

func startHTTP1(t *testing.T, rec *recorder, mod func(*HTTP1Config)) (string, *HTTP1) {
	t.Helper()
	cfg := HTTP1Config{Name: "t", Direction: "outbound", Runtime: newRuntime(t, rec.addr(), cluster.HTTP1, 0),
		HeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second, RequestTimeout: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	h := NewHTTP1(cfg)
	return serveEngine(t, h), h
}

// exchange writes raw bytes and reads until the proxy closes or 2s pass.
func exchange(t *testing.T, addr, raw string) (string, bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte(raw))
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	out, err := io.ReadAll(c)
	// EOF, or a reset because the proxy closed with client bytes unread.
	closed := err == nil || errors.Is(err, syscall.ECONNRESET)
	return string(out), closed
}

func TestHTTP1Forwarding(t *testing.T) {
	rec := newRecorder(t)
	addr, _ := startHTTP1(t, rec, nil)
	out, _ := exchange(t, addr, "POST /a/./b/../items?x=1 HTTP/1.1\r\nHost: catalog\r\nX-CuStOm-Header: Keep\r\nContent-Length: 5\r\n\r\nhello"+
		"GET http://catalog/abs HTTP/1.1\r\nHost: ignored\r\n\r\n"+
		"POST /chunked HTTP/1.1\r\nHost: catalog\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"+
		"GET /last HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")
	if n := strings.Count(out, "HTTP/1.1 200 OK"); n != 4 {
		t.Fatalf("%d responses to 4 pipelined requests:\n%s", n, out)
	}
	reqs := rec.requests()
	if len(reqs) != 4 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	if reqs[0].URI != "/a/items?x=1" || reqs[0].Body != "hello" {
		t.Fatalf("first request %+v", reqs[0])
	}
	if reqs[1].URI != "/abs" || reqs[2].Body != "abc" || reqs[2].Trailer.Get("X-T") != "1" {
		t.Fatalf("requests %+v", reqs[1:3])
	}
	if rec.conns.Load() != 1 {
		t.Fatalf("upstream saw %d connections, want 1 pooled keep-alive", rec.conns.Load())
	}
	if !strings.Contains(out, "Connection: close") {
		t.Fatal("last response lacks Connection: close")
	}
}

func TestHTTP1HeaderCasePreserved(t *testing.T) {
	rec := newRecorder(t)
	var raw string
	rec.handle = func(w *bufio.Writer, r *http.Request) bool { return false }
	addr, _ := startHTTP1(t, rec, nil)
	// A raw upstream view: capture bytes with a second recorder-less server.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var head strings.Builder
		for {
			l, err := br.ReadString('\n')
			head.WriteString(l)
			if err != nil || l == "\r\n" {
				break
			}
		}
		c.Write([]byte("HTTP/1.1 200 OK\r\nX-ReSpOnSe-Case: 1\r\nContent-Length: 0\r\n\r\n"))
		got <- head.String()
	}()
	_ = addr
	addr2, _ := startHTTP1(t, &recorder{ln: ln}, nil)
	out, _ := exchange(t, addr2, "GET / HTTP/1.1\r\nHost: a\r\nX-CuStOm-Header: v\r\nConnection: close\r\n\r\n")
	raw = <-got
	if !strings.Contains(raw, "\r\nX-CuStOm-Header: v\r\n") {
		t.Fatalf("upstream head lost header case:\n%s", raw)
	}
	if !strings.Contains(out, "X-ReSpOnSe-Case: 1") {
		t.Fatalf("response header case lost:\n%s", out)
	}
}

// RELIABILITY.md hostile-input rows through the whole engine: each gets the
// expected status and close, and the upstream sees no extra request.
func TestHTTP1HostileInput(t *testing.T) {
	big := strings.Repeat("X-A: 1\r\n", 101)
	tests := []struct {
		name, raw, status string
		upstream          int // requests the upstream must see
	}{
		{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", "400", 0},
		{"TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /admin HTTP/1.1\r\n\r\n0\r\n\r\n", "400", 0},
		{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "400", 0},
		{"TE space colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "400", 0},
		{"xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "400", 0},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", "400", 0},
		{"bare LF chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;ext\na\r\n0\r\n\r\n", "400", 0},
		{"chunk ext bomb", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("x", 64<<10) + "\r\na\r\n0\r\n\r\n", "400", 0},
		{"NUL header", "GET / HTTP/1.1\r\nHost: a\r\nX-A: abc\x00.internal\r\n\r\n", "400", 0},
		{"encoded slash", "GET /admin%2F HTTP/1.1\r\nHost: a\r\n\r\n", "400", 0},
		{"fragment", "GET /admin#x HTTP/1.1\r\nHost: a\r\n\r\n", "400", 0},
		{"101 headers", "GET / HTTP/1.1\r\nHost: a\r\n" + big + "\r\n", "431", 0},
		{"61 KiB header", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 61<<10) + "\r\n\r\n", "431", 0},
		{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			addr, _ := startHTTP1(t, rec, nil)
			out, closed := exchange(t, addr, tt.raw)
			if !strings.HasPrefix(out, "HTTP/1.1 "+tt.status+" ") {
				t.Fatalf("response %q, want %s", firstLine(out), tt.status)
			}
			if !closed {
				t.Fatal("connection left open after a framing error")
			}
			if n := len(rec.requests()); n != tt.upstream {
				t.Fatalf("upstream saw %d requests (%+v), want %d", n, rec.requests(), tt.upstream)
			}
		})
	}
}

func TestHTTP1HeaderPolicy(t *testing.T) {
	rec := newRecorder(t)
	// The outbound side as a sidecar runs it: the local app is trusted.
	addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) { c.TrustForwarded = true })
	exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close, X-Forwarded-For, X-Mesh-Identity\r\n"+
		"X-Forwarded-For: 6.6.6.6\r\nX-Mesh-Identity: spiffe://evil/admin\r\nX-Weft-Route: forced\r\n"+
		"Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nKeep-Alive: 1\r\nX-Inject: a\r\nForwarded: for=192.0.2.60;proto=http\r\n\r\n")
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	h := reqs[0].Header
	if got := h.Values("X-Forwarded-For"); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Fatalf("X-Forwarded-For %q, want only the proxy's", got)
	}
	for _, k := range []string{"X-Mesh-Identity", "X-Weft-Route", "Upgrade", "Http2-Settings", "Keep-Alive"} {
		if v := h.Get(k); v != "" {
			t.Errorf("%s reached the upstream: %q", k, v)
		}
	}
	if got := h.Get("Forwarded"); got != "for=192.0.2.60;proto=http, for=127.0.0.1" {
		t.Errorf("Forwarded %q, want the proxy's hop appended", got)
	}
	if h.Get("X-Request-Id") == "" || h.Get("X-Inject") != "a" {
		t.Fatalf("headers %v", h)
	}
}

func TestHTTP1StalePooledConnectionRetried(t *testing.T) {
	rec := newRecorder(t)
	addr, _ := startHTTP1(t, rec, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	for i := 0; i < 3; i++ {
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: a\r\n\r\n", i)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("request %d: %d", i, resp.StatusCode)
		}
		// Close the pooled upstream connection behind the proxy's back.
		rec.closeConns()
	}
	if n := rec.conns.Load(); n != 3 {
		t.Fatalf("upstream saw %d connections, want 3 (one per request)", n)
	}
}

func TestHTTP1SlowlorisClosedAtHeaderTimeout(t *testing.T) {
	rec := newRecorder(t)
	addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) { c.HeaderTimeout = 300 * time.Millisecond })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("GET / HTTP/1.1\r\nHo"))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	_, err = io.ReadAll(c)
	if err != nil {
		t.Fatalf("slow client not closed: %v", err)
	}
	if d := time.Since(start); d > 1500*time.Millisecond {
		t.Fatalf("closed after %v, want about 300ms", d)
	}
	// Others are still served.
	out, _ := exchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(out, "HTTP/1.1 200") {
		t.Fatalf("normal client got %q", firstLine(out))
	}
}

func TestHTTP1ExpectContinueAndWebSocket(t *testing.T) {
	rec := newRecorder(t)
	rec.handle = func(w *bufio.Writer, r *http.Request) bool {
		if r.Header.Get("Upgrade") == "websocket" {
			fmt.Fprintf(w, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			return true
		}
		return false
	}
	addr, _ := startHTTP1(t, rec, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	br := bufio.NewReader(c)
	c.Write([]byte("POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n"))
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q before sending the body", line)
	}
	br.ReadString('\n')
	c.Write([]byte("body"))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after 100-continue: %v %v", resp, err)
	}
	io.Copy(io.Discard, resp.Body)
	c.Write([]byte("GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"))
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", resp, err)
	}
	c.Write([]byte("ping-frame"))
	buf := make([]byte, 10)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "ping-frame" {
		t.Fatalf("tunnel echo %q %v", buf, err)
	}
	if got := rec.requests()[0].Header.Get("Expect"); got != "" {
		t.Fatalf("Expect reached upstream: %q", got)
	}
}

func TestHTTP1ConnectTunnel(t *testing.T) {
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		c, err := echo.Accept()
		if err != nil {
			return
		}
		io.Copy(c, c)
		c.Close()
	}()
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: newRuntime(t, echo.Addr().String(), cluster.HTTP1, 0)})
	addr := serveEngine(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte("CONNECT catalog:443 HTTP/1.1\r\nHost: catalog:443\r\n\r\n\x16\x03\x01hello"))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: "CONNECT"})
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	buf := make([]byte, 8)
	if _, err := io.ReadFull(br, buf); err != nil || string(buf) != "\x16\x03\x01hello" {
		t.Fatalf("tunnel %q %v", buf, err)
	}
}

func TestHTTP1ShutdownDrains(t *testing.T) {
	rec := newRecorder(t)
	release := make(chan struct{})
	rec.handle = func(w *bufio.Writer, r *http.Request) bool {
		<-release
		return false
	}
	addr, h := startHTTP1(t, rec, nil)
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busy.Write([]byte("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"))
	deadline := time.Now().Add(3 * time.Second)
	for len(rec.requests()) == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		done <- h.Shutdown(ctx)
	}()
	idle.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("idle connection not closed by drain: %v", err)
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(2 * time.Second))
	out, _ := io.ReadAll(busy)
	if !strings.HasPrefix(string(out), "HTTP/1.1 200") || !strings.Contains(string(out), "Connection: close") {
		t.Fatalf("in-flight request during drain got %q", out)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

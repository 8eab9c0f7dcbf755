package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// A head that misses the header timeout is answered 408 with
// Connection: close, not closed in silence (issue 7, finding 10).
func TestHTTP1HeaderTimeoutAnswers408(t *testing.T) {
	rec := newRecorder(t)
	const timeout = 300 * time.Millisecond
	addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) { c.HeaderTimeout = timeout })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.Write([]byte("GET /slow HTTP/1.1\r\nHost: a\r\nX-Par"))
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	took := time.Since(start)
	if err != nil {
		t.Fatalf("no response to a slow head: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout || !resp.Close || string(body) != "weft: request head not received in time (SI)\n" {
		t.Fatalf("got %d close=%v %q, want 408 with Connection: close", resp.StatusCode, resp.Close, body)
	}
	// The sweeper checks every timeout/4: allow that plus scheduling slack.
	if took < timeout || took > timeout+700*time.Millisecond {
		t.Fatalf("408 after %v, want about %v", took, timeout)
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

// serveOnce serves connections with h and reports each one's end after the
// proxy closed its socket, so a test can read only once the close (and any
// reset it causes) has happened.
func serveOnce(t *testing.T, h *HTTP1) (string, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{}, 4)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			h.ServeConn(context.Background(), c)
			c.Close()
			closed <- struct{}{}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		h.Shutdown(ctx)
		wg.Wait()
	})
	return ln.Addr().String(), closed
}

// After a 400 or 431 with client bytes still unread, the proxy closes
// lingering. A plain close with unread input sends a reset, and the kernel
// then throws away whatever of the response it had not sent yet: here the
// client pipelines requests and reads nothing until the proxy is done, so
// its receive window is full and the error response is still queued.
func TestHTTP1ErrorClosesLingering(t *testing.T) {
	filler := strings.Repeat("z", 64<<10)
	pipelined := strings.Repeat("GET / HTTP/1.1\r\nHost: a\r\n\r\n", 50)
	tests := []struct{ name, raw, status string }{
		{"head too large", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + filler, "431"},
		{"invalid framing", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n" + filler, "400"},
		{"rejected with a body", "POST / HTTP/1.1\r\nHost: a b\r\nContent-Length: 65536\r\n\r\n" + filler, "400"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder(t)
			h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: newRuntime(t, rec.addr(), cluster.HTTP1, 0)})
			addr, closed := serveOnce(t, h)
			d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
				return rc.Control(func(fd uintptr) {
					syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
				})
			}}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			go c.Write([]byte(pipelined + tt.raw))
			select {
			case <-closed:
			case <-time.After(3 * time.Second):
				t.Fatal("proxy kept the connection past the linger bound")
			}
			br := bufio.NewReader(c)
			for i := 0; i < 50; i++ {
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("pipelined response %d: %v", i, err)
				}
				io.Copy(io.Discard, resp.Body)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("error status lost: %v", err)
			}
			io.Copy(io.Discard, resp.Body)
			if got := fmt.Sprint(resp.StatusCode); got != tt.status || !resp.Close {
				t.Fatalf("status %s close=%v, want %s and close", got, resp.Close, tt.status)
			}
		})
	}
}

// A client whose input never ends still gets its status and is cut off
// within the linger bounds.
func TestHTTP1LingerIsBounded(t *testing.T) {
	rec := newRecorder(t)
	h := NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: newRuntime(t, rec.addr(), cluster.HTTP1, 0)})
	addr, closed := serveOnce(t, h)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go func() { // writes until the proxy resets the connection
		c.Write([]byte("GET / HTTP/1.1\r\nHost: a\r\nX-Big: "))
		buf := []byte(strings.Repeat("z", 16<<10))
		for i := 0; i < 1024; i++ {
			if _, err := c.Write(buf); err != nil {
				return
			}
		}
	}()
	start := time.Now()
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("proxy kept draining an endless client")
	}
	if d := time.Since(start); d > lingerTimeout+time.Second {
		t.Fatalf("closed after %v", d)
	}
}

// Forbidden trailer fields never reach the upstream or the client on the
// HTTP/1.1 path; the allowed ones still do (RFC 9110 §6.5.1).
func TestHTTP1TrailersFiltered(t *testing.T) {
	rec := newRecorder(t)
	rec.handle = func(w *bufio.Writer, r *http.Request) bool {
		fmt.Fprintf(w, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n"+
			"Set-Cookie: session=evil\r\nContent-Length: 1\r\nGrpc-Status: 0\r\n\r\n")
		return true
	}
	addr, _ := startHTTP1(t, rec, nil)
	out, _ := exchange(t, addr, "POST /t HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"+
		"3\r\nabc\r\n0\r\nContent-Length: 99\r\nHost: admin\r\nAuthorization: Bearer x\r\nX-Mesh-Identity: spiffe://evil\r\n"+
		"X-Forwarded-For: 6.6.6.6\r\nX-Checksum: abc\r\n\r\n")
	reqs := rec.requests()
	if len(reqs) != 1 {
		t.Fatalf("upstream saw %d requests", len(reqs))
	}
	if reqs[0].Body != "abc" || reqs[0].Trailer.Get("X-Checksum") != "abc" || len(reqs[0].Trailer) != 1 {
		t.Fatalf("upstream body %q trailers %v, want only X-Checksum", reqs[0].Body, reqs[0].Trailer)
	}
	resp, err := http.ReadResponse(bufio.NewReader(strings.NewReader(out)), nil)
	if err != nil {
		t.Fatalf("response %q: %v", out, err)
	}
	io.ReadAll(resp.Body)
	if resp.Trailer.Get("Grpc-Status") != "0" || len(resp.Trailer) != 1 {
		t.Fatalf("client trailers %v, want only Grpc-Status", resp.Trailer)
	}
}

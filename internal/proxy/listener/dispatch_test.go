package listener

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/h1"
)

// seen is what one handler received: its name and every byte it read.
type seen struct {
	handler string
	data    []byte
}

// recordHandler reads its connection to the end and reports what it saw.
type recordHandler struct {
	name string
	out  chan seen
}

func (h *recordHandler) ServeConn(_ context.Context, c net.Conn) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, _ := io.ReadAll(c)
	h.out <- seen{h.name, b}
}

// dispatchRig is one real listener per declared protocol, with recording
// handlers. Connections are net.Pipes handed to the listener's per-
// connection path (what Serve does after Accept), so a long fuzz run does
// not exhaust loopback ports.
type dispatchRig struct {
	ls  map[Protocol]*Listener
	out chan seen
}

func newDispatchRig(tb testing.TB) *dispatchRig {
	r := &dispatchRig{ls: map[Protocol]*Listener{}, out: make(chan seen, 1)}
	for _, p := range []Protocol{Auto, HTTP1, HTTP2} {
		l, err := New(Config{Name: "fuzz", Addr: "127.0.0.1:0", Protocol: p,
			HTTP1: &recordHandler{"http1", r.out}, HTTP2: &recordHandler{"http2", r.out}, TCP: &recordHandler{"tcp", r.out},
			HeaderTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { l.Shutdown(context.Background()) })
		r.ls[p] = l
	}
	return r
}

// send writes in and closes, runs the listener's accept path to its end,
// and returns which handler got the connection (ok false: none did).
func (r *dispatchRig) send(tb testing.TB, p Protocol, in []byte) (seen, bool) {
	l := r.ls[p]
	srv, cli := net.Pipe()
	go func() {
		cli.Write(in)
		cli.Close()
	}()
	l.sem <- struct{}{}
	if !l.conns.Add(srv, func() { srv.Close() }) {
		tb.Fatal("listener closed")
	}
	l.serveConn(context.Background(), srv)
	select {
	case s := <-r.out:
		return s, true
	default:
		return seen{}, false
	}
}

// parsesAsHTTP1 reports whether the codec accepts a request head in b.
func parsesAsHTTP1(b []byte) bool {
	var req h1.Request
	return req.Read(bufio.NewReader(bytes.NewReader(b)), h1.Limits{}) == nil
}

// FuzzDispatch drives arbitrary first bytes through accept, detection and
// dispatch (RELIABILITY.md row 23): a port declared HTTP never hands a
// connection to TCP, whatever HTTP/1 the codec would parse reaches the
// HTTP/1 handler on every port, and the handler reads exactly what the
// client sent.
func FuzzDispatch(f *testing.F) {
	for _, s := range []string{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
		"\n\r\n\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
		strings.Repeat("\r\n", 9) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"\x00GET / HTTP/1.1\r\nHost: a\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
		"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
		"PRI / HTTP/1.1\r\nHost: a\r\n\r\n",
		"INVALID CONNECTION PREFACE\r\n\r\n",
		"\x16\x03\x01\x00\x05hello",
		"SSH-2.0-OpenSSH\r\n",
		"GE",
		"\r",
	} {
		f.Add([]byte(s))
	}
	rig := newDispatchRig(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		rest := in
		for range h1.MaxLeadingEmptyLines {
			rest = bytes.TrimPrefix(bytes.TrimPrefix(rest, []byte("\n")), []byte("\r\n"))
		}
		isH1 := parsesAsHTTP1(in)
		for _, p := range []Protocol{Auto, HTTP1, HTTP2} {
			got, ok := rig.send(t, p, in)
			if !ok {
				if len(in) > 0 {
					t.Fatalf("protocol %d: %q reached no handler", p, in)
				}
				continue
			}
			if !bytes.Equal(got.data, in) {
				t.Fatalf("protocol %d: %s handler read %q, client sent %q", p, got.handler, got.data, in)
			}
			if p != Auto && got.handler == "tcp" {
				t.Fatalf("protocol %d (declared HTTP): %q went to TCP", p, in)
			}
			if (isH1 || parsesAsHTTP1(rest)) && got.handler != "http1" {
				t.Fatalf("protocol %d: HTTP/1 request %q went to %s", p, in, got.handler)
			}
		}
	})
}

// A client that sends nothing on an auto port is an idle connection: it is
// closed at the idle timeout and never reaches TCP (no upstream dial).
func TestSilentClientClosedAtIdleTimeout(t *testing.T) {
	var dials atomic.Int32
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		for {
			c, err := up.Accept()
			if err != nil {
				return
			}
			dials.Add(1)
			c.Close()
		}
	}()
	tcp := NewTCPProxy(TCPConfig{Name: "t", Pick: func(net.Conn) (string, func(Outcome), error) { return up.Addr().String(), nil, nil }})
	h := &tagHandler{tag: "h"}
	l := startListener(t, Config{Name: "t", HTTP1: h, HTTP2: h, TCP: tcp,
		SniffTimeout: 20 * time.Millisecond, IdleTimeout: 300 * time.Millisecond})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("silent client: read %v, want EOF at the idle timeout", err)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Fatalf("closed after %v, before the 300ms idle timeout", d)
	}
	if n := dials.Load(); n != 0 || h.seen.Load() != 0 {
		t.Fatalf("silent client reached a handler: %d upstream dials, %d HTTP", n, h.seen.Load())
	}
}

// After its first byte a slow client has HeaderTimeout to finish showing
// what it speaks; then the HTTP handler gets what came and a timeout error.
func TestSlowFirstBytesEndAtHeaderTimeout(t *testing.T) {
	out := make(chan seen, 1)
	tcp := &recordHandler{"tcp", out}
	h1h := &recordHandler{"http1", out}
	l := startListener(t, Config{Name: "t", HTTP1: h1h, HTTP2: &recordHandler{"http2", out}, TCP: tcp,
		HeaderTimeout: 200 * time.Millisecond})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("\r\nGE"))
	select {
	case s := <-out:
		if s.handler != "http1" || string(s.data) != "\r\nGE" {
			t.Fatalf("%s handler read %q", s.handler, s.data)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("slow head not handed over after the header timeout")
	}
}

// Shutdown closes connections still waiting for their first byte at once.
func TestShutdownClosesSilentClients(t *testing.T) {
	h := &tagHandler{tag: "h"}
	l, err := New(Config{Name: "t", Addr: "127.0.0.1:0", HTTP1: h, HTTP2: h})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Serve(context.Background()) }()
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	waitFor(t, "waiting", func() bool {
		l.waiting.mu.Lock()
		defer l.waiting.mu.Unlock()
		return len(l.waiting.conns) == 1
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown waited on a silent client: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

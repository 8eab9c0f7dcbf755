package listener

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestClassify(t *testing.T) {
	tests := []struct {
		in   string
		want kind
	}{
		{"", kindUnknown},
		{"GET / HTTP/1.1\r\n", kindHTTP1},
		{"GE", kindUnknown},
		{"CONNECT a:443 HTTP/1.1", kindHTTP1},
		{"PROPFIND /x HTTP/1.1", kindHTTP1},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", kindHTTP2},
		{"PRI * HTTP/2.0", kindUnknown},
		{"\x16\x03\x01\x02\x00", kindTLS},
		{"SSH-2.0-OpenSSH", kindUnknown},
		{"SSH-2.0-OpenSSH_9.6\r\n", kindTCP},
		{"\r\nGET / HTTP/1.1", kindHTTP1},
		{"\n\r\n", kindUnknown},
		{"\r", kindUnknown},
		{"\r\n\x16\x03\x01", kindTCP},
		{"\r\nPRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", kindHTTP1},
		{"PRI * HTTP/2.0\r\n\r\nXX", kindBadPreface},
		{"PRI / HTTP/1.1", kindHTTP1},
		{"M-SEARCH * HTTP/1.1", kindHTTP1},
		{"FOO http://a/ HTTP/1.1", kindHTTP1},
		{"FOO bar baz", kindTCP},
		{"\x00\x01\x02", kindTCP},
		{"get / HTTP/1.1", kindHTTP1},
		{" GET /", kindTCP},
		{"HELO x", kindUnknown},
		{"HELO x\r\n", kindTCP},
	}
	for _, tt := range tests {
		if got := classify([]byte(tt.in)); got != tt.want {
			t.Errorf("classify(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"GET / HTTP/1.1", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "\x16\x03\x01", "HELO"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k := classify(b)
		if k == kindUnknown && len(b) > 0 && classify(append(b[:len(b):len(b)], 0)) == kindUnknown {
			t.Fatalf("still undecided after a NUL: %q", b)
		}
		if k == kindHTTP2 && !bytes.HasPrefix(b, h2Preface) {
			t.Fatalf("HTTP/2 without the preface: %q", b)
		}
	})
}

// tagHandler answers with its tag and the first bytes it read.
type tagHandler struct {
	tag  string
	seen atomic.Int32
}

func (h *tagHandler) ServeConn(_ context.Context, c net.Conn) {
	h.seen.Add(1)
	buf := make([]byte, 4)
	n, _ := io.ReadFull(c, buf)
	c.Write([]byte(h.tag + ":" + string(buf[:n]) + "\n"))
}

func startListener(t *testing.T, cfg Config) *Listener {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(ctx)
		if err := <-errc; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return l
}

func TestDispatchBySniffing(t *testing.T) {
	h1, h2, tcp := &tagHandler{tag: "h1"}, &tagHandler{tag: "h2"}, &tagHandler{tag: "tcp"}
	l := startListener(t, Config{Name: "t", HTTP1: h1, HTTP2: h2, TCP: tcp, SniffTimeout: 100 * time.Millisecond})
	tests := []struct{ send, want string }{
		{"GET / HTTP/1.1\r\n\r\n", "h1:GET \n"},
		{"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "h2:PRI \n"},
		{"\x16\x03\x01\x00\x05hello", "tcp:\x16\x03\x01\x00\n"},
		{"\x00\x00garbage", "tcp:\x00\x00ga\n"},
	}
	for _, tt := range tests {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte(tt.send))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		got, err := bufio.NewReader(c).ReadString('\n')
		c.Close()
		if err != nil || got != tt.want {
			t.Errorf("send %q: got %q (%v), want %q", tt.send, got, err, tt.want)
		}
	}
}

// A server-speaks-first protocol: the client sends nothing and must get the
// upstream's banner within the sniff timeout.
func TestServerSpeaksFirstFallsBackToTCP(t *testing.T) {
	up, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	go func() {
		c, err := up.Accept()
		if err != nil {
			return
		}
		c.Write([]byte("220 banner\r\n"))
		io.Copy(io.Discard, c)
		c.Close()
	}()
	tcp := NewTCPProxy(TCPConfig{Name: "t", Pick: func(net.Conn) (string, func(Outcome), error) { return up.Addr().String(), nil, nil }})
	h := &tagHandler{tag: "h"}
	l := startListener(t, Config{Name: "t", HTTP1: h, HTTP2: h, TCP: tcp, ServerFirst: true, SniffTimeout: 50 * time.Millisecond})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(3 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line != "220 banner\r\n" {
		t.Fatalf("banner %q, %v", line, err)
	}
}

func startEchoUpstream(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func TestTCPPassthroughIntegrityAndHalfClose(t *testing.T) {
	addr := startEchoUpstream(t)
	outcome := make(chan Outcome, 1)
	tcp := NewTCPProxy(TCPConfig{Name: "t", Pick: func(net.Conn) (string, func(Outcome), error) {
		return addr, func(o Outcome) { outcome <- o }, nil
	}})
	l := startListener(t, Config{Name: "t", Protocol: TCP, TCP: tcp})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	go func() {
		c.Write(payload)
		c.(*net.TCPConn).CloseWrite() // half-close: the echo must still answer
	}()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, payload) {
		t.Fatalf("echo mismatch: got %d bytes", len(got))
	}
	// The outcome counts the bytes each way, for the TCP metrics.
	select {
	case o := <-outcome:
		if o.Sent != int64(len(payload)) || o.Received != int64(len(payload)) {
			t.Errorf("outcome sent %d received %d, want %d each", o.Sent, o.Received, len(payload))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no tunnel outcome")
	}
}

func TestTCPIdleTimeoutClosesTunnel(t *testing.T) {
	addr := startEchoUpstream(t)
	tcp := NewTCPProxy(TCPConfig{Name: "t", IdleTimeout: 100 * time.Millisecond,
		Pick: func(net.Conn) (string, func(Outcome), error) { return addr, nil, nil }})
	l := startListener(t, Config{Name: "t", Protocol: TCP, TCP: tcp})
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle tunnel was not closed")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle tunnel still open after 5s")
	}
}

// blockHandler holds each connection until released.
type blockHandler struct {
	release chan struct{}
	active  atomic.Int32
}

func (b *blockHandler) ServeConn(_ context.Context, c net.Conn) {
	b.active.Add(1)
	defer b.active.Add(-1)
	<-b.release
}

func TestMaxConnsPausesAccepting(t *testing.T) {
	b := &blockHandler{release: make(chan struct{})}
	l := startListener(t, Config{Name: "t", Protocol: TCP, TCP: b, MaxConns: 2})
	var conns []net.Conn
	for i := 0; i < 3; i++ {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	waitFor(t, "two active", func() bool { return b.active.Load() == 2 })
	// The third waits in the backlog, not accepted and not closed.
	conns[2].SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := conns[2].Read(make([]byte, 1)); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("third connection: %v, want a read timeout (still queued)", err)
	}
	if b.active.Load() != 2 {
		t.Fatalf("active %d, want 2", b.active.Load())
	}
	b.release <- struct{}{}
	waitFor(t, "third accepted", func() bool { return b.active.Load() == 2 && len(b.release) == 0 })
	close(b.release)
}

func TestShutdownWaitsThenForces(t *testing.T) {
	b := &blockHandler{release: make(chan struct{})}
	l, err := New(Config{Name: "t", Addr: "127.0.0.1:0", Protocol: TCP, TCP: b})
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
	waitFor(t, "active", func() bool { return b.active.Load() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go func() {
		<-ctx.Done()
		close(b.release) // the handler returns once its conn is force-closed
	}()
	if err := l.Shutdown(ctx); err == nil {
		t.Fatal("shutdown with a stuck connection should report the deadline")
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", l.Addr().String()); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestConfigValidation(t *testing.T) {
	_, err := New(Config{Name: "x", Addr: "nowhere"})
	if err == nil || !strings.Contains(err.Error(), "addr: must be host:port") || !strings.Contains(err.Error(), "http ports need both") {
		t.Fatalf("err = %v", err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package client

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// startFake serves h as a gRPC server written by hand, over h2c, for what
// grpc-go's server never does: oversized frames, odd statuses, a stream
// it stops reading. It returns the address and a count of calls.
func startFake(t *testing.T, h http.HandlerFunc) (string, *atomic.Int32) {
	t.Helper()
	calls := new(atomic.Int32)
	s := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		h(w, r)
	}))
	s.Config.Protocols = new(http.Protocols)
	s.Config.Protocols.SetUnencryptedHTTP2(true)
	s.Start()
	t.Cleanup(s.Close)
	return s.Listener.Addr().String(), calls
}

// grpcHeaders starts a gRPC response.
func grpcHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/grpc")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
}

// endWith ends a gRPC response with status code and message, in trailers.
func endWith(w http.ResponseWriter, code, msg string) {
	w.Header().Set(http.TrailerPrefix+"Grpc-Status", code)
	w.Header().Set(http.TrailerPrefix+"Grpc-Message", msg)
}

// readRequest reads one request message, as a server does before it
// answers.
func readRequest(t *testing.T, r *http.Request) {
	if _, err := readFrame(r.Body, 1<<20); err != nil {
		t.Errorf("fake server reading a request: %v", err)
	}
}

// logSink keeps what a client logs, so a test can tell why streams ended.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) logger() *slog.Logger { return slog.New(slog.NewTextHandler(l, nil)) }

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Count(l.buf.String(), s)
}

// relay forwards TCP to a target until frozen: then it swallows whatever
// either side sends on the connections it holds, as a control plane that
// vanished from the network would, while new connections pass.
type relay struct {
	ln      net.Listener
	target  string
	accepts atomic.Int32
	mu      sync.Mutex
	links   []*link
	wg      sync.WaitGroup
}

type link struct {
	frozen    atomic.Bool
	down, up  net.Conn
	closeOnce sync.Once
}

func startRelay(t *testing.T, target string) *relay {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &relay{ln: ln, target: target}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(func() {
		ln.Close()
		r.mu.Lock()
		for _, l := range r.links {
			l.close()
		}
		r.mu.Unlock()
		r.wg.Wait()
	})
	return r
}

func (r *relay) addr() string { return r.ln.Addr().String() }

func (r *relay) serve() {
	defer r.wg.Done()
	for {
		down, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.accepts.Add(1)
		up, err := net.DialTimeout("tcp", r.target, 5*time.Second)
		if err != nil {
			down.Close()
			continue
		}
		l := &link{down: down, up: up}
		r.mu.Lock()
		r.links = append(r.links, l)
		r.mu.Unlock()
		r.wg.Add(2)
		go func() { defer r.wg.Done(); l.pump(up, down) }()
		go func() { defer r.wg.Done(); l.pump(down, up) }()
	}
}

// freeze blackholes every connection open now.
func (r *relay) freeze() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, l := range r.links {
		l.frozen.Store(true)
	}
}

// pump copies src to dst, dropping what it reads once frozen; it keeps
// reading so the sender's writes still succeed, as they would into a
// network that loses them.
func (l *link) pump(dst, src net.Conn) {
	defer l.close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if l.frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (l *link) close() {
	l.closeOnce.Do(func() {
		l.down.Close()
		l.up.Close()
	})
}

// streamOnce runs one ADS stream of a client made from cfg and returns why
// it ended; it fails the test if the stream outlives the deadline.
func streamOnce(t *testing.T, cfg Config) error {
	t.Helper()
	if cfg.Apply == nil {
		cfg.Apply = func(Update) error { return nil }
	}
	if cfg.Node == "" {
		cfg.Node = "n"
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	err = c.stream(ctx, cfg.Servers[0])
	if ctx.Err() != nil {
		t.Fatalf("the stream outlived the test's deadline: %v", err)
	}
	return err
}

var _ io.Writer = (*logSink)(nil)

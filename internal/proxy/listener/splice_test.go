package listener

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// pipeFDs counts this process's open pipe fds.
func pipeFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			n++
		}
	}
	return n
}

// startCopyEcho is an echo upstream that copies through a buffer: an
// io.Copy between sockets would splice through the runtime's own pipes
// and be counted here.
func startCopyEcho(t *testing.T) string {
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
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 32<<10))
				c.(*net.TCPConn).CloseWrite()
				c.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func setMaxPipes(t testing.TB, n int) {
	t.Helper()
	_, old := PipeStats()
	SetMaxPipes(n)
	t.Cleanup(func() { SetMaxPipes(old) })
}

// Tunnels must not leave pipes behind: the runtime's splice pool kept 4
// pipe fds per closed tunnel until a GC. Here the pool stays at its cap
// while tunnels run and after they end, and every byte still arrives.
func TestTunnelPipesStayWithinPoolCap(t *testing.T) {
	const maxPipes, tunnels = 4, 40
	setMaxPipes(t, maxPipes)
	addr := startCopyEcho(t)
	tcp := NewTCPProxy(TCPConfig{Name: "t", Pick: func(net.Conn) (string, func(Outcome), error) { return addr, nil, nil }})
	l := startListener(t, Config{Name: "t", Protocol: TCP, TCP: tcp})
	base := pipeFDs(t)
	payload := make([]byte, 256<<10)
	rand.Read(payload)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var wg sync.WaitGroup
	errs := make(chan error, tunnels)
	for range tunnels {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			go c.Write(payload)
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, len(payload))
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, payload) {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("echo through tunnel: %v", err)
	}
	// All tunnels are open and idle now: they hold no pipe beyond the pool.
	if n := pipeFDs(t) - base; n > 2*maxPipes {
		t.Fatalf("%d pipe fds with %d idle tunnels open, want <= %d (pool cap)", n, tunnels, 2*maxPipes)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	deadline := time.Now().Add(5 * time.Second)
	for {
		open, _ := PipeStats()
		n := pipeFDs(t) - base
		if n <= 2*maxPipes && open <= maxPipes {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pipe fds (%d pooled pipes) after the tunnels closed, want <= %d", n, open, 2*maxPipes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if transfersSpliced.Load() == 0 {
		t.Fatal("no transfer was spliced")
	}
}

// With splicing disabled, tunnels copy through pooled buffers and hold no
// pipe at all.
func TestTunnelWithoutPipesCopiesThroughBuffers(t *testing.T) {
	setMaxPipes(t, 0)
	addr := startCopyEcho(t)
	tcp := NewTCPProxy(TCPConfig{Name: "t", Pick: func(net.Conn) (string, func(Outcome), error) { return addr, nil, nil }})
	l := startListener(t, Config{Name: "t", Protocol: TCP, TCP: tcp})
	base := pipeFDs(t)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	payload := make([]byte, 1<<20)
	rand.Read(payload)
	go func() { c.Write(payload); c.(*net.TCPConn).CloseWrite() }()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, payload) {
		t.Fatalf("echo: %d bytes, %v", len(got), err)
	}
	if n := pipeFDs(t) - base; n > 0 {
		t.Fatalf("%d pipe fds with splicing disabled", n)
	}
}

// BenchmarkTunnelBulk moves 16 MiB through one tunnel per op, spliced and
// through buffers, to compare their cost (docs/BENCHMARKS.md).
func BenchmarkTunnelBulk(b *testing.B) {
	for _, bc := range []struct {
		name  string
		pipes int
	}{{"splice", 64}, {"buffer", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			setMaxPipes(b, bc.pipes)
			sink, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer sink.Close()
			got := make(chan int64, 1)
			go func() {
				for {
					c, err := sink.Accept()
					if err != nil {
						return
					}
					n, _ := io.Copy(io.Discard, c)
					c.Close()
					got <- n
				}
			}()
			tcp := NewTCPProxy(TCPConfig{Name: "b", Pick: func(net.Conn) (string, func(Outcome), error) { return sink.Addr().String(), nil, nil }})
			l, err := New(Config{Name: "b", Addr: "127.0.0.1:0", Protocol: TCP, TCP: tcp})
			if err != nil {
				b.Fatal(err)
			}
			go l.Serve(b.Context())
			defer l.Shutdown(b.Context())
			chunk := make([]byte, 256<<10)
			const total = 16 << 20
			b.SetBytes(total)
			b.ResetTimer()
			for range b.N {
				c, err := net.Dial("tcp", l.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				for sent := 0; sent < total; sent += len(chunk) {
					c.Write(chunk)
				}
				c.Close()
				if n := <-got; n != total {
					b.Fatalf("sink got %d bytes", n)
				}
			}
		})
	}
}

package proxy

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// scriptUpstream answers every request on a raw socket with reply, which
// writes what it likes and returns the bytes it managed to write.
func scriptUpstream(t *testing.T, reply func(c net.Conn) int64) (addr string, written *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	written = new(atomic.Int64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				written.Add(reply(c))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	return ln.Addr().String(), written
}

// Issue 7, finding 3: an upstream whose response head never ends is cut at
// the head cap; the client gets 502 and the proxy stops reading.
func TestHTTP2EndlessUpstreamHeadCapped(t *testing.T) {
	const limit = 64 << 20 // what the fake upstream would send if nobody stopped it
	addr, written := scriptUpstream(t, func(c net.Conn) int64 {
		c.(*net.TCPConn).SetWriteBuffer(16 << 10)
		line := []byte("X-Pad: " + strings.Repeat("a", 1000) + "\r\n")
		n, _ := c.Write([]byte("HTTP/1.1 200 OK\r\n"))
		total := int64(n)
		for total < limit {
			n, err := c.Write(line)
			total += int64(n)
			if err != nil {
				break
			}
		}
		return total
	})
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, addr, cluster.HTTP1, 0)})
	c := h2cClient()
	resp, err := c.Get("http://" + serveEngine(t, h) + "/")
	t.Cleanup(c.CloseIdleConnections) // lets Shutdown finish at once
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	// The proxy closes the upstream connection after 32 KiB of head; what
	// the upstream wrote beyond that sits in socket buffers (a few MiB on
	// loopback at most), not in the proxy's heap.
	deadline := time.Now().Add(5 * time.Second)
	for written.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := written.Load(); n == 0 || n >= 16<<20 {
		t.Fatalf("upstream wrote %d bytes of head before the proxy closed the connection", n)
	}
	t.Logf("upstream wrote %d bytes before the proxy closed", written.Load())
}

// The bridge relays what net/http's reader did: 1xx skipped, chunked bodies
// with trailers, and refuses what the codec refuses.
func TestHTTP2BridgeUpstreamResponses(t *testing.T) {
	tests := []struct {
		name, reply string
		status      int    // 0: the stream must be reset (body broke off)
		body        string // expected when status is 200
		trailer     string // expected X-T trailer
	}{
		{"length", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
		{"100 skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200, "ok", ""},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n1;ext=1\r\n!\r\n0\r\nX-T: v\r\n\r\n", 200, "ok!", "v"},
		{"until close", "HTTP/1.0 200 OK\r\n\r\nall of it", 200, "all of it", ""},
		{"bare LF", "HTTP/1.1 200 OK\nContent-Length: 2\n\nok", 502, "", ""},
		{"CL and TE", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 502, "", ""},
		{"101", "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", 502, "", ""},
		{"endless 100", strings.Repeat("HTTP/1.1 100 Continue\r\n\r\n", 100), 502, "", ""},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", 0, "", ""},
		{"trailer too large", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n" + strings.Repeat("X-T: "+strings.Repeat("t", 1000)+"\r\n", 20) + "\r\n", 0, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := scriptUpstream(t, func(c net.Conn) int64 {
				n, _ := io.WriteString(c, tt.reply)
				return int64(n)
			})
			h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, addr, cluster.HTTP1, 0)})
			c := h2cClient()
			resp, err := c.Get("http://" + serveEngine(t, h) + "/")
			t.Cleanup(c.CloseIdleConnections)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if tt.status == 0 {
				if err == nil {
					t.Fatalf("body %q read to the end, want the stream reset", b)
				}
				return
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status == 200 && (err != nil || string(b) != tt.body || resp.Trailer.Get("X-T") != tt.trailer) {
				t.Fatalf("body %q err %v trailer %v", b, err, resp.Trailer)
			}
		})
	}
}

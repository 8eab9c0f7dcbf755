package proxy

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/listener"
)

// hostileH1 is the raw-socket HTTP/1 corpus (RELIABILITY.md rows 1-5, 7,
// 10, 17): each must get its status and reach no upstream.
var hostileH1 = []struct{ name, raw, status string }{
	{"CL.TE", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"TE.CL", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /admin HTTP/1.1\r\n\r\n0\r\n\r\n", "400"},
	{"two CL", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", "400"},
	{"CL list", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\nhello", "400"},
	{"CL sign", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", "400"},
	{"TE space colon", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n", "400"},
	{"xchunked", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n", "400"},
	{"chunked identity", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", "400"},
	{"two TE", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
	{"TE in 1.0", "POST / HTTP/1.0\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400"},
	{"obs-fold", "GET / HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n Transfer-Encoding: chunked\r\n\r\n", "400"},
	{"bare LF header", "GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", "400"},
	{"bare LF chunk", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;ext\na\r\n0\r\n\r\n", "400"},
	{"chunk ext bomb", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;" + strings.Repeat("x", 64<<10) + "\r\na\r\n0\r\n\r\n", "400"},
	{"NUL header", "GET / HTTP/1.1\r\nHost: a\r\nX-A: abc\x00.internal\r\n\r\n", "400"},
	{"CR in value", "GET / HTTP/1.1\r\nHost: a\r\nX-A: a\rb\r\n\r\n", "400"},
	{"encoded slash", "GET /admin%2F HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"fragment", "GET /admin#x HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"no host", "GET / HTTP/1.1\r\n\r\n", "400"},
	{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400"},
	{"bad host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "400"},
	{"userinfo", "GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"double space", "GET  / HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
	{"HTTP/2.0 line", "GET / HTTP/2.0\r\nHost: a\r\n\r\n", "505"},
	{"lowercase method CL.TE", "post / HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG", "400"},
	{"101 headers", "GET / HTTP/1.1\r\nHost: a\r\n" + strings.Repeat("X-A: 1\r\n", 101) + "\r\n", "431"},
	{"61 KiB header", "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + strings.Repeat("a", 61<<10) + "\r\n\r\n", "431"},
	{"long request line", "GET /" + strings.Repeat("a", 9<<10) + " HTTP/1.1\r\nHost: a\r\n\r\n", "414"},
	{"9 empty lines", strings.Repeat("\r\n", 9) + "GET / HTTP/1.1\r\nHost: a\r\n\r\n", "400"},
}

// startMeshListener is a real listener with the real engines in front of
// rec; its TCP handler tunnels to rec too, so anything that bypassed the
// HTTP checks would show up there as a request.
func startMeshListener(t *testing.T, rec *recorder, proto listener.Protocol) string {
	t.Helper()
	rt := newRuntime(t, rec.addr(), cluster.HTTP1, 0)
	h1cfg := HTTP1Config{Name: "t", Direction: "inbound", Runtime: rt, HeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second, RequestTimeout: 5 * time.Second}
	h1 := NewHTTP1(h1cfg)
	h2 := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: rt})
	tcp := listener.NewTCPProxy(listener.TCPConfig{Name: "t", Pick: func(net.Conn) (string, func(listener.Outcome), error) { return rec.addr(), nil, nil }})
	l, err := listener.New(listener.Config{Name: "t", Addr: "127.0.0.1:0", Protocol: proto, HTTP1: h1, HTTP2: h2, TCP: tcp,
		HeaderTimeout: 2 * time.Second, IdleTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- l.Serve(context.Background()) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(ctx)
		<-errc
	})
	return l.Addr().String()
}

// RELIABILITY.md row 23: every hostile HTTP/1 case gets the same answer
// after "\r\n", after "\n", and after 300 ms of silence as without, on a
// port declared HTTP and on an auto port; on the HTTP port a leading
// non-letter byte is refused too. Nothing reaches the upstream but the
// well-formed control request.
func TestHostileInputThroughListener(t *testing.T) {
	const valid = "GET /ok HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	for _, port := range []struct {
		name  string
		proto listener.Protocol
	}{{"http", listener.HTTP1}, {"auto", listener.Auto}} {
		t.Run(port.name, func(t *testing.T) {
			t.Parallel()
			rec := newRecorder(t)
			addr := startMeshListener(t, rec, port.proto)
			type probe struct {
				name, raw, want string
				pause           bool
				conn            net.Conn
			}
			var probes []*probe
			cases := append(hostileH1[:len(hostileH1):len(hostileH1)], struct{ name, raw, status string }{"valid", valid, "200"})
			for _, c := range cases {
				probes = append(probes,
					&probe{name: c.name, raw: c.raw, want: c.status},
					&probe{name: c.name + " after CRLF", raw: "\r\n" + c.raw, want: c.status},
					&probe{name: c.name + " after LF", raw: "\n" + c.raw, want: c.status},
					&probe{name: c.name + " after 300ms", raw: c.raw, want: c.status, pause: true})
				if c.name == "9 empty lines" {
					probes = probes[:len(probes)-3] // its prefixes change the count, not the case
					probes = append(probes, &probe{name: c.name + " after 300ms", raw: c.raw, want: c.status, pause: true})
				}
				if port.proto == listener.HTTP1 {
					probes = append(probes, &probe{name: c.name + " after NUL", raw: "\x00" + c.raw, want: "4"},
						&probe{name: c.name + " after TLS byte", raw: "\x16" + c.raw, want: "4"})
				}
			}
			// One pause for the whole batch: every paused probe connects
			// first, then all stay silent for 300 ms together.
			for _, p := range probes {
				if p.pause {
					c, err := net.Dial("tcp", addr)
					if err != nil {
						t.Fatal(err)
					}
					p.conn = c
				}
			}
			time.Sleep(300 * time.Millisecond) // the input under test: a silent client
			var wg sync.WaitGroup
			results := make([]string, len(probes))
			for i, p := range probes {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = rawExchange(p.conn, addr, p.raw)
				}()
			}
			wg.Wait()
			valids := 0
			for i, p := range probes {
				if !strings.HasPrefix(results[i], "HTTP/1.1 "+p.want) {
					t.Errorf("%s: got %q, want %s", p.name, firstLine(results[i]), p.want)
				}
				if p.want == "200" {
					valids++
				}
			}
			for _, r := range rec.requests() {
				if r.URI != "/ok" {
					t.Errorf("smuggled to the upstream: %s %s", r.Method, r.URI)
				}
			}
			if n := len(rec.requests()); n != valids {
				t.Errorf("upstream saw %d requests, want the %d valid ones", n, valids)
			}
		})
	}
}

// rawExchange sends raw on c (dialled now when nil) and reads until the
// proxy closes or 3s pass.
func rawExchange(c net.Conn, addr, raw string) string {
	if c == nil {
		var err error
		if c, err = net.Dial("tcp", addr); err != nil {
			return "dial: " + err.Error()
		}
	}
	defer c.Close()
	go c.Write([]byte(raw))
	// Only bounds a hang: every case is answered at once, but a loaded
	// 2-core machine running the race detector can take seconds.
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var out []byte
	buf := make([]byte, 4096)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return string(out)
		}
	}
}

package proxy

import (
	"bufio"
	"bytes"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/retry"
)

// rawUpstream answers every request with a fixed 64-byte body, parsing
// just enough to stay in step: the cheapest possible backend, so the
// benchmark measures the proxy.
func rawUpstream(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 64\r\n\r\n" + strings.Repeat("a", 63) + "\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Each request here is a bodiless GET ending in a blank line.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) == 2 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// BenchmarkHTTP1Proxy is one keep-alive client sending sequential GETs
// through the engine to a pooled upstream connection. allocs/op is the
// steady-state allocation count per proxied request.
func BenchmarkHTTP1Proxy(b *testing.B) {
	up := rawUpstream(b)
	benchHTTP1(b, newRuntime(&testing.T{}, up, cluster.HTTP1, 0))
}

// BenchmarkHTTP1ProxyRetryPolicy is BenchmarkHTTP1Proxy on a route with a
// retry policy configured (not triggered): the cost of retries when
// nothing fails. /per-try-timeout adds the per-try deadline calls.
func BenchmarkHTTP1ProxyRetryPolicy(b *testing.B) {
	for _, tc := range []struct {
		name string
		pol  *retry.Policy
	}{
		{"policy", &retry.Policy{On: retry.GatewayError | retry.RetriableStatusCodes, Attempts: 2, StatusCodes: []uint16{409}, RetryAfterMax: time.Second}},
		{"per-try-timeout", &retry.Policy{On: retry.GatewayError, Attempts: 2, PerTryTimeout: time.Second}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			up := rawUpstream(b)
			benchHTTP1(b, retryRuntime(&testing.T{}, []string{up}, tc.pol, retry.BudgetConfig{}))
		})
	}
}

func benchHTTP1(b *testing.B, rt *Runtime) {
	tb := &testing.T{}
	h := NewHTTP1(HTTP1Config{Name: "bench", Direction: "outbound", Runtime: rt})
	benchEngine(b, serveEngine(tb, h))
}

// benchEngine sends sequential keep-alive GETs to the engine at addr.
func benchEngine(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	req := []byte("GET /api/items?x=1 HTTP/1.1\r\nHost: catalog\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n")
	br := bufio.NewReaderSize(c, 4096)
	want := []byte("HTTP/1.1 200 OK")
	roundTrip := func() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		line, err := br.ReadSlice('\n')
		if err != nil || !bytes.HasPrefix(line, want) {
			b.Fatalf("response %q %v", line, err)
		}
		for {
			line, err = br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
		}
		br.Discard(64)
	}
	for i := 0; i < 100; i++ { // warm pools and buffers
		roundTrip()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		roundTrip()
	}
}

// BenchmarkHTTP1ProxyHeaderMods is BenchmarkHTTP1Proxy on a route that
// sets, adds and removes request and response headers: allocs/op must
// stay 0.
func BenchmarkHTTP1ProxyHeaderMods(b *testing.B) {
	up := rawUpstream(b)
	benchHTTP1(b, filteredRuntime(b, up, cluster.HTTP1, headerMods))
}

package proxy

import (
	"bufio"
	"bytes"
	"net"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// BenchmarkHTTP1Filters is BenchmarkHTTP1Proxy's keep-alive GET loop with
// the route's filters off and on (a rate limit that never refuses, and a
// fault config that draws but never fires), so the difference is the
// filters' per-request cost; allocs/op must stay 0 in both.
func BenchmarkHTTP1Filters(b *testing.B) {
	for _, bc := range []struct {
		name string
		mod  func(*route.Route)
	}{
		{"off", func(*route.Route) {}},
		{"on", func(r *route.Route) {
			r.RateLimit = &ratelimit.Config{Rate: 1e9, Burst: 1 << 30}
			r.Fault = &fault.Config{Delay: 1, DelayShare: 0, AbortHTTP: 503, AbortShare: 0}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			up := rawUpstream(b)
			tb := &testing.T{}
			h := NewHTTP1(HTTP1Config{Name: "bench", Direction: "outbound", Runtime: filteredRuntime(b, up, cluster.HTTP1, bc.mod)})
			c, err := net.Dial("tcp", serveEngine(tb, h))
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
					if line, err = br.ReadSlice('\n'); err != nil {
						b.Fatal(err)
					}
					if len(line) == 2 {
						break
					}
				}
				br.Discard(64)
			}
			for i := 0; i < 100; i++ {
				roundTrip()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				roundTrip()
			}
		})
	}
}

// BenchmarkFilterDecision is the filters' own per-request work, without
// the network: the Filtered branch, a token from the bucket (one CAS) and
// the fault draw. The whole-request benchmark above is dominated by
// loopback syscalls, whose noise on a shared machine hides this.
func BenchmarkFilterDecision(b *testing.B) {
	for _, bc := range []struct {
		name string
		mod  func(*route.Route)
	}{
		{"off", func(*route.Route) {}},
		{"on", func(r *route.Route) {
			r.RateLimit = &ratelimit.Config{Rate: 1e9, Burst: 1 << 30}
			r.Fault = &fault.Config{Delay: 1, DelayShare: 0, AbortHTTP: 503, AbortShare: 0}
		}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			rt := filteredRuntime(b, "127.0.0.1:1", cluster.HTTP1, bc.mod).Load().Routes.Lookup([]byte("catalog"), []byte("GET"), []byte("/"), nil, noHeaders{})
			x := uint64(88172645463325252)
			start := time.Now()
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if !rt.Filtered() {
					continue
				}
				if ok, _ := rt.Bucket().Allow(ratelimit.Now(start)); !ok {
					b.Fatal("refused")
				}
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				if d := rt.Fault.Decide(x); d.Abort || d.Delay > 0 {
					b.Fatal("fault fired")
				}
			}
		})
	}
}

type noHeaders struct{}

func (noHeaders) Get(string) ([]byte, bool) { return nil, false }

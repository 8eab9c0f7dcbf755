package proxy

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// TestHTTP2RapidResetMeasure reports T8's numbers: the process CPU an
// attacker costs (up to 100k HEADERS+RST_STREAM pairs per connection,
// redialling as soon as it is cut off, for 2 s) and another client's latency before and during
// it. A measurement, not a gate (a shared CI machine is too noisy for a
// latency bound): run with WEFT_MEASURE=1.
func TestHTTP2RapidResetMeasure(t *testing.T) {
	if os.Getenv("WEFT_MEASURE") == "" {
		t.Skip("measurement; set WEFT_MEASURE=1")
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok")) }))
	defer up.Close()
	addr := h2Engine(t, up.Listener.Addr().String(), cluster.HTTP1)
	c := h2cClient()
	defer c.CloseIdleConnections()
	sample := func(d time.Duration) []time.Duration {
		var lat []time.Duration
		for end := time.Now().Add(d); time.Now().Before(end); {
			s := time.Now()
			resp, err := c.Get("http://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			lat = append(lat, time.Since(s))
		}
		slices.Sort(lat)
		return lat
	}
	pct := func(l []time.Duration, p float64) time.Duration { return l[int(float64(len(l)-1)*p)] }
	base := sample(2 * time.Second)
	var pairs, conns, goaways atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			a := dialH2(t, addr)
			conns.Add(1)
			var cut atomic.Bool
			go func() {
				defer cut.Store(true)
				for {
					f, err := a.fr.ReadFrame()
					if err != nil {
						return
					}
					if ga, ok := f.(*http2.GoAwayFrame); ok && ga.ErrCode == http2.ErrCodeEnhanceYourCalm {
						goaways.Add(1)
					}
				}
			}()
			// Pre-encoded and written in large chunks, so the attacker's own
			// CPU (same process) stays small next to the proxy's.
			blk := a.block(baseFields...)
			var attack bytes.Buffer
			fr := http2.NewFramer(&attack, nil)
			for s := uint32(1); s < 2*100_000; s += 2 {
				fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk, EndHeaders: true, EndStream: true})
				fr.WriteRSTStream(s, http2.ErrCodeCancel)
			}
			per := attack.Len() / 100_000
			for b := attack.Bytes(); len(b) > 0 && !cut.Load(); {
				k := min(len(b), 64<<10)
				n, err := a.c.Write(b[:k])
				pairs.Add(int64(n / per))
				if err != nil {
					break
				}
				b = b[k:]
				select {
				case <-stop:
					a.c.Close()
					return
				default:
				}
			}
			a.c.Close()
		}
	}()
	during := sample(2 * time.Second)
	close(stop)
	wg.Wait()
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano()+ru1.Stime.Nano()-ru0.Utime.Nano()-ru0.Stime.Nano()) * time.Nanosecond
	t.Logf("baseline: n=%d p50=%v p99=%v", len(base), pct(base, .5), pct(base, .99))
	t.Logf("attack:   n=%d p50=%v p99=%v", len(during), pct(during, .5), pct(during, .99))
	t.Logf("attacker: %d connections, %d pairs written, %d GOAWAY(ENHANCE_YOUR_CALM); process CPU %v over 2s (attacker and victim client included)",
		conns.Load(), pairs.Load(), goaways.Load(), cpu)
}

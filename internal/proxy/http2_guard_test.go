package proxy

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// frames builds a client byte stream: the preface, then raw frames.
func frames(fn func(fr *http2.Framer)) []byte {
	var b bytes.Buffer
	b.WriteString(http2.ClientPreface)
	fn(http2.NewFramer(&b, nil))
	return b.Bytes()
}

func TestH2ScannerRapidReset(t *testing.T) {
	clock := time.Unix(0, 0)
	tests := []struct {
		name    string
		opens   int // streams opened and completed per cancelled one
		resets  int
		advance time.Duration // clock step per reset
		tripped bool
	}{
		{"rapid reset", 0, 200, 0, true},
		{"a few cancels", 0, resetBurst - 1, 0, false},
		{"cancels are a minority", 2, 500, 0, false},
		{"over the hard cap", 1, 1000, 0, true},
		{"spread over time", 0, 5000, 20 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newH2Scanner(1000, resetBurst)
			now := clock
			s.now = func() time.Time { return now }
			var err error
			id := uint32(1)
			in := frames(func(fr *http2.Framer) {
				for i := 0; i < tt.resets; i++ {
					for j := 0; j < tt.opens; j++ {
						fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: []byte{0x82}, EndHeaders: true, EndStream: true})
						id += 2
					}
					fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: []byte{0x82}, EndHeaders: true, EndStream: true})
					fr.WriteRSTStream(id, http2.ErrCodeCancel)
					id += 2
				}
			})
			// Feed it in frame-sized reads, as x/net asks, advancing the clock.
			for len(in) > 0 && err == nil {
				k := min(len(in), 13)
				var n int
				n, err = s.scan(in[:k])
				in = in[n:]
				now = now.Add(tt.advance / 2)
			}
			if tripped := errors.Is(err, errRapidReset); tripped != tt.tripped {
				t.Fatalf("tripped %v after %d resets, %d opened; want %v", tripped, s.resets, s.opened, tt.tripped)
			}
		})
	}
}

// FuzzH2Scanner: how the stream is split into reads changes nothing but
// whether a split ACK header can be hidden; the scanner never passes more
// bytes than it got and never panics.
func FuzzH2Scanner(f *testing.F) {
	f.Add(frames(func(fr *http2.Framer) {
		fr.WriteSettings()
		fr.WriteSettingsAck()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: []byte{0x82}, EndHeaders: false})
		fr.WriteContinuation(1, true, []byte{0x84})
		fr.WriteRSTStream(1, http2.ErrCodeCancel)
		fr.WriteData(3, true, []byte("abc"))
	}), uint8(5))
	f.Add([]byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x01\x00\x00\x00\x00"), uint8(1))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		now := func() time.Time { return time.Unix(0, 0) }
		whole := newH2Scanner(50, resetBurst)
		whole.now = now
		a := append([]byte(nil), in...)
		n, errWhole := whole.scan(a)
		if n > len(a) || errWhole == nil && n != len(a) {
			t.Fatalf("passed %d of %d bytes (err %v)", n, len(a), errWhole)
		}
		for i := range a {
			if a[i] != in[i] && !(a[i] == hiddenFrameType && i >= 24) {
				t.Fatalf("byte %d rewritten from %#x to %#x", i, in[i], a[i])
			}
		}
		pieces := newH2Scanner(50, resetBurst)
		pieces.now = now
		b := append([]byte(nil), in...)
		var errPieces error
		off := 0
		for off < len(b) && errPieces == nil {
			k := min(len(b)-off, int(step%17)+1)
			var m int
			m, errPieces = pieces.scan(b[off : off+k])
			off += m
		}
		if (errWhole == nil) != (errPieces == nil) || whole.opened != pieces.opened || whole.resets != pieces.resets || whole.lastStream != pieces.lastStream {
			t.Fatalf("whole: err %v opened %d resets %d; in pieces: err %v opened %d resets %d",
				errWhole, whole.opened, whole.resets, errPieces, pieces.opened, pieces.resets)
		}
	})
}

// RELIABILITY.md row 12 / T8: 100k HEADERS+RST_STREAM pairs on one
// connection get GOAWAY(ENHANCE_YOUR_CALM) within 1 s, and the proxy
// stops reading long before the attacker is done.
func TestHTTP2RapidResetGoAway(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	addr := h2Engine(t, up.Listener.Addr().String(), cluster.HTTP1)
	a := dialH2(t, addr)
	blk := a.block(baseFields...)
	type verdict struct {
		code http2.ErrCode
		at   time.Time
	}
	got := make(chan verdict, 1)
	go func() {
		for {
			f, err := a.fr.ReadFrame()
			if err != nil {
				got <- verdict{code: 0xff, at: time.Now()}
				return
			}
			if ga, ok := f.(*http2.GoAwayFrame); ok {
				got <- verdict{code: ga.ErrCode, at: time.Now()}
				return
			}
		}
	}()
	start := time.Now()
	sent := 0
	var wmu sync.Mutex // the Framer's writer is not shared with the reader, but keep writes whole
	for s := uint32(1); sent < 100_000; s += 2 {
		wmu.Lock()
		err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk, EndHeaders: true, EndStream: true})
		if err == nil {
			err = a.fr.WriteRSTStream(s, http2.ErrCodeCancel)
		}
		wmu.Unlock()
		if err != nil {
			break
		}
		sent++
		if sent%1000 == 0 && len(got) > 0 {
			break // answered: the rest would only fill socket buffers
		}
	}
	v := <-got
	if v.code != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("after %d pairs: GOAWAY code %v (0xff: none, connection ended), want ENHANCE_YOUR_CALM", sent, v.code)
	}
	if d := v.at.Sub(start); d > time.Second {
		t.Fatalf("GOAWAY after %v, want within 1s", d)
	}
	t.Logf("GOAWAY(ENHANCE_YOUR_CALM) after %v; attacker wrote %d pairs", v.at.Sub(start), sent)
}

// Issue 7 finding 4: a stream over MaxConcurrentStreams is refused with
// REFUSED_STREAM (the request did not run; RFC 9113 §8.7 lets the client
// retry it), even after the client acknowledged our SETTINGS.
func TestHTTP2ExcessStreamRefused(t *testing.T) {
	release := make(chan struct{})
	var wg sync.WaitGroup
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	defer wg.Wait()
	defer close(release)
	h := NewHTTP2(HTTP2Config{Name: "t", Runtime: newRuntime(t, up.Listener.Addr().String(), cluster.HTTP1, 0), MaxConcurrentStreams: 4})
	a := dialH2(t, serveEngine(t, h))
	// Read the server's SETTINGS and acknowledge them, as every client does.
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			a.fr.WriteSettingsAck()
			break
		}
	}
	blk := a.block(baseFields...)
	for s := uint32(1); s <= 9; s += 2 { // five streams, the limit is four
		a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk, EndHeaders: true, EndStream: true})
	}
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			t.Fatalf("no answer for the fifth stream: %v", err)
		}
		if rs, ok := f.(*http2.RSTStreamFrame); ok {
			if rs.StreamID != 9 || rs.ErrCode != http2.ErrCodeRefusedStream {
				t.Fatalf("RST_STREAM on stream %d code %v, want stream 9 REFUSED_STREAM", rs.StreamID, rs.ErrCode)
			}
			return
		}
		if _, ok := f.(*http2.GoAwayFrame); ok {
			t.Fatal("GOAWAY instead of a refused stream")
		}
	}
}

// Issue 7 finding 4: a header list over MaxHeaderBytes gets 431 on its own
// stream, and the connection keeps serving.
func TestHTTP2OversizedHeaderList431(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	addr := h2Engine(t, up.Listener.Addr().String(), cluster.HTTP1)
	a := dialH2(t, addr)
	go io.Copy(io.Discard, strings.NewReader("")) // (no-op: outcome reads)
	fields := append([]string(nil), baseFields...)
	for i := 0; i < 40; i++ { // 40 distinct 1 KiB fields: 40 KiB decoded, over 32 KiB
		fields = append(fields, "x-big-"+string(rune('a'+i%26))+string(rune('a'+i/26)), strings.Repeat("v", 1000))
	}
	blk := a.block(fields...)
	first, rest := blk[:16000], blk[16000:]
	a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndHeaders: false, EndStream: true})
	for len(rest) > 0 {
		k := min(len(rest), 16000)
		a.fr.WriteContinuation(1, k == len(rest), rest[:k])
		rest = rest[k:]
	}
	if got := a.outcome(1); got != "431" {
		t.Fatalf("oversized header list answered %q, want 431", got)
	}
	a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: a.block(baseFields...), EndHeaders: true, EndStream: true})
	if got := a.outcome(3); got != "200" {
		t.Fatalf("next stream on the same connection answered %q, want 200", got)
	}
}

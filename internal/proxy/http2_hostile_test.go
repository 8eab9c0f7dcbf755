package proxy

import (
	"bytes"

	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"runtime"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// h2Attack is a raw HTTP/2 client connection for hostile-input tests.
type h2Attack struct {
	c   net.Conn
	fr  *http2.Framer
	enc *hpack.Encoder
	dec *hpack.Decoder // one per connection: responses index into its table
	buf bytes.Buffer
}

func dialH2(t *testing.T, addr string) *h2Attack {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	a := &h2Attack{c: c, fr: http2.NewFramer(c, c)}
	a.enc = hpack.NewEncoder(&a.buf)
	a.dec = hpack.NewDecoder(4096, nil)
	c.Write([]byte(http2.ClientPreface))
	a.fr.WriteSettings()
	return a
}

// block encodes header fields, unvalidated: the point is to send what a
// well-behaved client never would.
func (a *h2Attack) block(fields ...string) []byte {
	a.buf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		a.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), a.buf.Bytes()...)
}

var baseFields = []string{":method", "GET", ":scheme", "http", ":authority", "catalog", ":path", "/"}

// outcome reads frames until the stream is answered, reset, or the
// connection goes away, and reports what happened.
func (a *h2Attack) outcome(stream uint32) string {
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			return "closed"
		}
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			if f.StreamID == stream {
				return "reset"
			}
		case *http2.GoAwayFrame:
			return "goaway"
		case *http2.HeadersFrame:
			hs, _ := a.dec.DecodeFull(f.HeaderBlockFragment()) // every block, to keep the table in step
			if f.StreamID == stream {
				for _, h := range hs {
					if h.Name == ":status" {
						return h.Value
					}
				}
			}
		case *http2.SettingsFrame:
			if !f.IsAck() {
				a.fr.WriteSettingsAck()
			}
		}
	}
}

func h2Engine(t *testing.T, upstreamAddr string, proto cluster.Protocol) string {
	t.Helper()
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, upstreamAddr, proto, 0)})
	return serveEngine(t, h)
}

// RELIABILITY.md row 6: invalid HTTP/2 requests never become HTTP/1 bytes.
func TestHTTP2InvalidHeadersNeverReachUpstream(t *testing.T) {
	rec := newRecorder(t)
	addr := h2Engine(t, rec.addr(), cluster.HTTP1)
	tests := []struct {
		name   string
		fields []string
		data   string // sent with END_STREAM when set
	}{
		{"CRLF in value", append(baseFields, "x-a", "a\r\nX-Injected: 1"), ""},
		{"NUL in value", append(baseFields, "x-a", "abc\x00.internal"), ""},
		{"uppercase name", append(baseFields, "X-Upper", "1"), ""},
		{"transfer-encoding", append(baseFields, "transfer-encoding", "chunked"), ""},
		{"connection header", append(baseFields, "connection", "close"), ""},
		{"duplicate :path", append(baseFields, ":path", "/admin"), ""},
		{"content-length mismatch", []string{":method", "POST", ":scheme", "http", ":authority", "catalog", ":path", "/", "content-length", "10"}, "short"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := dialH2(t, addr)
			stream := uint32(2*i + 1)
			a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: stream, BlockFragment: a.block(tt.fields...), EndHeaders: true, EndStream: tt.data == ""})
			if tt.data != "" {
				a.fr.WriteData(stream, true, []byte(tt.data))
			}
			got := a.outcome(stream)
			if got == "200" {
				t.Fatalf("forwarded (status %s)", got)
			}
		})
	}
	// The content-length case may have started a request upstream; every
	// other case must not have produced a single byte there. None may have
	// completed with an injected header.
	for _, r := range rec.requests() {
		if r.Header.Get("X-Injected") != "" || r.URI == "/admin" {
			t.Fatalf("upstream saw %+v", r)
		}
		if r.Body == "short" {
			t.Fatalf("upstream got a body shorter than its content-length: %+v", r)
		}
	}
}

// Row 13: an endless CONTINUATION stream is cut once headers pass the cap.
func TestHTTP2ContinuationFloodClosed(t *testing.T) {
	addr := h2Engine(t, "127.0.0.1:9", cluster.HTTP1)
	a := dialH2(t, addr)
	a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: a.block(baseFields...), EndHeaders: false})
	chunk := a.block("x-pad", strings.Repeat("a", 4000))
	// The bound is far beyond what the proxy may decode (4 × 32 KiB) and
	// beyond what loopback socket buffers and the proxy's lingering close
	// (256 KiB) can absorb after it closed: a write must fail before it.
	const bound = 32 << 20
	sent := 0
	for ; sent < bound; sent += len(chunk) {
		if err := a.fr.WriteContinuation(1, false, chunk); err != nil {
			break
		}
	}
	if got := a.outcome(1); got != "closed" && got != "goaway" && got != "431" && got != "reset" {
		t.Fatalf("flood answered %q", got)
	}
	if sent >= bound {
		t.Fatalf("proxy accepted %d bytes of CONTINUATION without closing", sent)
	}
}

// Row 14: an HPACK bomb (one 4 KiB entry referenced many times) is refused
// once the decoded size passes the cap, before anything goes upstream.
func TestHTTP2HPACKBombRefused(t *testing.T) {
	rec := newRecorder(t)
	addr := h2Engine(t, rec.addr(), cluster.HTTP1)
	a := dialH2(t, addr)
	fields := append([]string(nil), baseFields...)
	for i := 0; i < 100; i++ { // the encoder indexes the first and references the rest
		fields = append(fields, "x-bomb", strings.Repeat("b", 4000))
	}
	a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: a.block(fields...), EndHeaders: true, EndStream: true})
	if got := a.outcome(1); got == "200" {
		t.Fatal("400 KB of decoded headers were accepted")
	}
	if n := len(rec.requests()); n != 0 {
		t.Fatalf("upstream saw %d requests", n)
	}
}

// Row 12: rapid reset. The attack is bounded; the proxy must keep in-flight
// upstream requests within MaxConcurrentStreams and keep serving others.
func TestHTTP2RapidResetBounded(t *testing.T) {
	var inflight, peak atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := inflight.Add(1)
		defer inflight.Add(-1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-r.Context().Done():
		case <-time.After(50 * time.Millisecond):
		}
	}))
	defer up.Close()
	addr := h2Engine(t, up.Listener.Addr().String(), cluster.HTTP1)
	a := dialH2(t, addr)
	go io.Copy(io.Discard, a.c) // keep reading so flow control is not the limit
	blk := a.block(baseFields...)
	for s := uint32(1); s < 2*20000; s += 2 {
		if a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk, EndHeaders: true, EndStream: true}) != nil {
			break
		}
		if a.fr.WriteRSTStream(s, http2.ErrCodeCancel) != nil {
			break
		}
	}
	if p := peak.Load(); p > 100 {
		t.Fatalf("%d upstream requests in flight at once, want <= 100", p)
	}
	// Another client is still served.
	resp, err := h2cClient().Get("http://" + addr + "/")
	if err != nil {
		t.Fatalf("other client: %v", err)
	}
	resp.Body.Close()
}

// Row 15: a client that floods PINGs and never reads. The proxy either
// closes the connection (queue cap, write timeout) or answers from bounded
// memory; it must not queue an ACK per PING without limit.
func TestHTTP2PingFloodBounded(t *testing.T) {
	h := NewHTTP2(HTTP2Config{Name: "t", Runtime: newRuntime(t, "127.0.0.1:9", cluster.HTTP1, 0), WriteTimeout: 300 * time.Millisecond})
	addr := serveEngine(t, h)
	a := dialH2(t, addr)
	a.c.(*net.TCPConn).SetReadBuffer(4096)
	a.c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	var data [8]byte
	sent := 0
	for ; sent < 100_000; sent++ {
		if a.fr.WritePing(false, data) != nil {
			break
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if grew := int64(after.HeapInuse) - int64(before.HeapInuse); grew > 8<<20 {
		t.Fatalf("heap grew %d bytes after %d unread PINGs", grew, sent)
	}
	t.Logf("sent %d pings before the proxy stopped taking them", sent)
}

package proxy

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

func TestResetPenaltyTable(t *testing.T) {
	now := time.Unix(0, 0)
	p := newResetPenalty()
	p.now = func() time.Time { return now }
	a := netip.MustParseAddr("10.0.0.1")
	if d, prob := p.check(a); d != 0 || prob {
		t.Fatalf("address in good standing: wait %v probation %v", d, prob)
	}
	want := []time.Duration{50, 100, 200, 250, 250}
	for i, w := range want {
		p.strike(a)
		if d, prob := p.check(a); d != w*time.Millisecond || !prob {
			t.Fatalf("after %d strikes: wait %v probation %v, want %v and probation", i+1, d, prob, w*time.Millisecond)
		}
	}
	if d, _ := p.check(netip.MustParseAddr("10.0.0.2")); d != 0 {
		t.Fatalf("another address waits %v", d)
	}
	now = now.Add(penaltyTTL + time.Second)
	if d, prob := p.check(a); d != 0 || prob || p.n.Load() != 0 {
		t.Fatalf("after the TTL: wait %v probation %v, %d entries", d, prob, p.n.Load())
	}
	if p.strike(a) != 1 {
		t.Fatal("a strike after the TTL does not start over")
	}
	if p.strike(netip.Addr{}) != 0 || p.n.Load() != 1 {
		t.Fatal("a non-IP peer was recorded")
	}
	for i := range penaltyMaxAddrs + 100 {
		p.strike(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}))
	}
	if n := len(p.m); n > penaltyMaxAddrs || int(p.n.Load()) != n {
		t.Fatalf("table holds %d entries (counter %d), cap %d", n, p.n.Load(), penaltyMaxAddrs)
	}
}

// h2Pairs writes n HEADERS+RST_STREAM pairs from stream id first.
func h2Pairs(t *testing.T, a *h2Attack, first uint32, n int) {
	t.Helper()
	blk := a.block(baseFields...)
	for i, s := 0, first; i < n; i, s = i+1, s+2 {
		if err := a.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s, BlockFragment: blk, EndHeaders: true, EndStream: true}); err != nil {
			t.Fatal(err)
		}
		if err := a.fr.WriteRSTStream(s, http2.ErrCodeCancel); err != nil {
			t.Fatal(err)
		}
	}
}

// h2Verdict reads until GOAWAY or a PING ack and says which, with the time
// the server's first frame arrived.
func h2Verdict(t *testing.T, a *h2Attack) (verdict string, first time.Time) {
	t.Helper()
	for {
		f, err := a.fr.ReadFrame()
		if err != nil {
			return "read error: " + err.Error(), first
		}
		if first.IsZero() {
			first = time.Now()
		}
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			return "GOAWAY " + f.ErrCode.String(), first
		case *http2.PingFrame:
			if f.IsAck() {
				return "PING ack", first
			}
		}
	}
}

// Issue 7 finding 4 / T8: an attacker redials as soon as it is cut off.
// Its next connection waits before it is served and is cut off after
// probationBurst cancels, where a fresh client is allowed resetBurst, and
// its GOAWAY still comes within a second of dialling.
func TestHTTP2RapidResetRedialPenalised(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	addr := h2Engine(t, up.Listener.Addr().String(), cluster.HTTP1)

	first := dialH2(t, addr)
	h2Pairs(t, first, 1, 2*resetBurst)
	if v, _ := h2Verdict(t, first); v != "GOAWAY ENHANCE_YOUR_CALM" {
		t.Fatalf("first connection: %s, want GOAWAY ENHANCE_YOUR_CALM", v)
	}

	start := time.Now()
	again := dialH2(t, addr)
	// Twice the probation burst: a fresh connection would be left alone.
	h2Pairs(t, again, 1, 2*probationBurst)
	if err := again.fr.WritePing(false, [8]byte{1}); err != nil {
		t.Fatal(err)
	}
	v, firstFrame := h2Verdict(t, again)
	if v != "GOAWAY ENHANCE_YOUR_CALM" {
		t.Fatalf("redialled connection after %d cancels: %s, want GOAWAY ENHANCE_YOUR_CALM (probation)", 2*probationBurst, v)
	}
	if d := firstFrame.Sub(start); d < penaltyBaseDelay {
		t.Fatalf("redialled connection served after %v, want a wait of at least %v", d, penaltyBaseDelay)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("redialled connection's GOAWAY after %v, want within 1s", d)
	}

	// The control: the same cancels from an address in good standing (a
	// fresh engine) are tolerated.
	fresh := dialH2(t, h2Engine(t, up.Listener.Addr().String(), cluster.HTTP1))
	h2Pairs(t, fresh, 1, 2*probationBurst)
	if err := fresh.fr.WritePing(false, [8]byte{1}); err != nil {
		t.Fatal(err)
	}
	if v, _ := h2Verdict(t, fresh); v != "PING ack" {
		t.Fatalf("fresh connection after %d cancels: %s, want PING ack", 2*probationBurst, v)
	}
}

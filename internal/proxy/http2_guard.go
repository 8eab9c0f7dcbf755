package proxy

import (
	"crypto/tls"
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// x/net's Server bounds rapid reset (CVE-2023-44487) in memory but not in
// CPU: a client may open and cancel streams as fast as it can write, and
// each pair costs a stream, an HPACK decode and a handler start. Nor does
// it expose per-connection frame counts. So the engine reads the client's
// bytes through h2Guard, which walks the 9-byte frame headers of the
// inbound stream (payloads are skipped, never copied or decoded) and ends
// the connection once cancellations look like an attack.

// resetBurst is the number of client resets in one window tolerated
// whatever the mix; past it, a connection on which more than half of the
// streams opened in the window were cancelled is closed.
const resetBurst = 100

// resetWindow is the span over which resets are counted.
const resetWindow = time.Second

// hiddenFrameType replaces the type byte of the client's first SETTINGS
// ACK. It is in the experimental range (RFC 9113 §11.2), so x/net ignores
// the frame, as it must ignore unknown types (§4.1). Why hide the ACK:
// x/net refuses a stream over MaxConcurrentStreams with PROTOCOL_ERROR
// once its SETTINGS are acknowledged, and with REFUSED_STREAM before; the
// RFC allows either (§5.1.2), and only REFUSED_STREAM tells the client the
// request did not run and may be retried (§8.7). Nothing else in x/net
// depends on the ACK.
const hiddenFrameType = 0xf7

// errRapidReset makes x/net send GOAWAY(ENHANCE_YOUR_CALM) and close: a
// read error of type ConnectionError is handled as a protocol violation.
var errRapidReset error = http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)

// h2Scanner follows the frame boundaries of a client's byte stream, in
// pieces of any size. It is not safe for concurrent use; only x/net's one
// reader goroutine reads a connection.
type h2Scanner struct {
	maxResets int // resets per window tolerated whatever the mix
	burst     int // resets per window past which a cancelling majority trips

	preface uint8   // client preface bytes still to pass
	hdrN    uint8   // bytes of a split frame header gathered in hdr
	hdr     [9]byte // a frame header split across reads
	skip    uint32  // payload bytes of the current frame still to pass
	inBlock bool    // inside a header block: only CONTINUATION may follow
	acked   bool    // the first SETTINGS ACK was seen (and hidden if it could be)

	lastStream uint32 // highest client stream id opened
	opened     int    // streams opened in the window
	resets     int    // RST_STREAM frames in the window
	winStart   time.Time
	now        func() time.Time // the clock; tests replace it
}

func newH2Scanner(maxResets, burst int) h2Scanner {
	return h2Scanner{maxResets: maxResets, burst: burst, preface: uint8(len(http2.ClientPreface)), now: time.Now}
}

// scan passes over b, the next bytes from the client. It returns len(b),
// or, when the connection must end, the offset of the frame that crossed
// the line (the bytes before it may still be delivered) and the error. It
// may rewrite the type byte of a frame header wholly inside b.
func (s *h2Scanner) scan(b []byte) (int, error) {
	i := 0
	for i < len(b) {
		switch {
		case s.preface > 0:
			k := min(int(s.preface), len(b)-i)
			s.preface -= uint8(k)
			i += k
		case s.skip > 0:
			k := min(s.skip, uint32(len(b)-i))
			s.skip -= k
			i += int(k)
		case s.hdrN == 0 && len(b)-i >= len(s.hdr):
			if err := s.frame(b[i:i+len(s.hdr)], true); err != nil {
				return i, err
			}
			i += len(s.hdr)
		default: // a header split across reads: gather it
			k := copy(s.hdr[s.hdrN:], b[i:])
			s.hdrN += uint8(k)
			i += k
			if int(s.hdrN) == len(s.hdr) {
				s.hdrN = 0
				if err := s.frame(s.hdr[:], false); err != nil {
					return i - k, err
				}
			}
		}
	}
	return len(b), nil
}

// frame accounts for one frame header; mutable says whether h is the
// header the reader will deliver (so its type may be rewritten).
func (s *h2Scanner) frame(h []byte, mutable bool) error {
	length := uint32(h[0])<<16 | uint32(h[1])<<8 | uint32(h[2])
	typ, flags := http2.FrameType(h[3]), http2.Flags(h[4])
	id := binary.BigEndian.Uint32(h[5:]) & (1<<31 - 1)
	s.skip = length
	switch typ {
	case http2.FrameHeaders:
		s.inBlock = !flags.Has(http2.FlagHeadersEndHeaders)
		if id&1 == 1 && id > s.lastStream {
			s.lastStream = id
			s.opened++
		}
	case http2.FrameContinuation:
		s.inBlock = !flags.Has(http2.FlagContinuationEndHeaders)
	case http2.FrameRSTStream:
		return s.reset()
	case http2.FrameSettings:
		if flags.Has(http2.FlagSettingsAck) && !s.acked {
			s.acked = true
			if mutable && length == 0 && id == 0 && !s.inBlock {
				h[3] = hiddenFrameType
			}
		}
	}
	return nil
}

// reset counts one client RST_STREAM. The clock is read here only, so
// the other frames cost a few comparisons.
func (s *h2Scanner) reset() error {
	now := s.now()
	if now.Sub(s.winStart) > resetWindow {
		// A new window starts at the first reset after the old one ended;
		// streams opened before this reset are not in it.
		s.winStart, s.opened, s.resets = now, 0, 0
	}
	s.resets++
	if s.resets >= s.maxResets || s.resets >= s.burst && 2*s.resets > s.opened {
		return errRapidReset
	}
	return nil
}

// h2Guard is the connection x/net reads: the client's bytes pass through
// unchanged (bar one hidden ACK), and once the scanner objects, the bytes
// before the offending frame are delivered and then errRapidReset.
type h2Guard struct {
	net.Conn
	scan    h2Scanner
	err     error  // sticky scanner verdict
	onAbuse func() // called once, when the verdict is first returned
}

func (g *h2Guard) Read(p []byte) (int, error) {
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.Conn.Read(p)
	if n > 0 {
		var serr error
		if n, serr = g.scan.scan(p[:n]); serr != nil {
			g.err = serr
			if g.onAbuse != nil {
				g.onAbuse()
			}
			if n == 0 {
				return 0, serr
			}
			return n, nil
		}
	}
	return n, err
}

// h2LingerTimeout bounds how long Close drains a client after sending FIN.
const h2LingerTimeout = 250 * time.Millisecond

// h2LingerBytes bounds what Close drains.
const h2LingerBytes = 256 << 10

// lingerBufs holds the drain buffers of Close: a rapid-reset client has
// usually queued megabytes, and reading them 4 KiB at a time cost 64 read
// calls per cut-off connection.
var lingerBufs = sync.Pool{New: func() any { return new([64 << 10]byte) }}

// Close half-closes, drains what the client still sends for a moment, and
// then closes: closing a socket with unread input sends a TCP reset, which
// can destroy the GOAWAY just written before the client reads it (as
// net/http's server does for HTTP/1).
func (g *h2Guard) Close() error {
	cw, ok := g.Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return g.Conn.Close()
	}
	g.Conn.SetReadDeadline(time.Now().Add(h2LingerTimeout))
	buf := lingerBufs.Get().(*[64 << 10]byte)
	for n := 0; n < h2LingerBytes; {
		k, err := g.Conn.Read(buf[:])
		n += k
		if err != nil {
			break
		}
	}
	lingerBufs.Put(buf)
	return g.Conn.Close()
}

// h2GuardTLS keeps the TLS state visible: x/net reads it through the
// ConnectionState method, which the plain wrapper would hide.
type h2GuardTLS struct {
	*h2Guard
	tc interface{ ConnectionState() tls.ConnectionState }
}

func (g h2GuardTLS) ConnectionState() tls.ConnectionState { return g.tc.ConnectionState() }

// guard wraps c, from ip, for x/net; a connection on probation trips
// after probationBurst cancels instead of resetBurst.
func (h *HTTP2) guard(c net.Conn, ip netip.Addr, probation bool) net.Conn {
	burst := resetBurst
	if probation {
		burst = probationBurst
	}
	g := &h2Guard{Conn: c, scan: newH2Scanner(h.cfg.MaxClientResets, burst)}
	g.onAbuse = func() {
		strikes := h.penalty.strike(ip)
		if strikes&(strikes-1) != 0 {
			return // logged at 1, 2, 4, 8… strikes: an attacker redials hundreds of times a second
		}
		h.log.Warn("closing connection: too many cancelled streams (rapid reset)", "remote", c.RemoteAddr().String(),
			"resets", g.scan.resets, "opened", g.scan.opened, "strikes", strikes)
	}
	if tc, ok := c.(interface{ ConnectionState() tls.ConnectionState }); ok {
		return h2GuardTLS{h2Guard: g, tc: tc}
	}
	return g
}

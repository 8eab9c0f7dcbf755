package proxy

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Closing a rapid-reset connection is not enough: an attacker redials at
// once, and each new connection costs a handshake, x/net's connection
// setup and the streams it may open before the guard trips again (measured
// in docs/BENCHMARKS.md: hundreds of connections a second from one
// process). So a source address whose connection was cut off is remembered
// for a while, and its new connections wait before they are served and are
// cut off after fewer cancels. Other clients behind the same address are
// not refused: their connections only start later (never by more than
// penaltyMaxDelay), and probation trips only on connections that cancel
// most of what they open.

// penaltyTTL is how long an address stays penalised after its last strike.
const penaltyTTL = 10 * time.Second

// penaltyBaseDelay is the wait of a new connection from an address with
// one strike; it doubles with each strike, up to penaltyMaxDelay.
const penaltyBaseDelay = 50 * time.Millisecond

// penaltyMaxDelay caps the wait, so a client sharing an attacker's address
// still gets served within a quarter of a second, and an attacker's GOAWAY
// comes well within T8's second (RELIABILITY.md) even on a loaded machine.
const penaltyMaxDelay = 250 * time.Millisecond

// penaltyMaxAddrs bounds the table: past it, expired entries are swept and
// then an arbitrary one is evicted, so memory stays bounded whatever the
// number of attacking addresses.
const penaltyMaxAddrs = 4096

// probationBurst replaces resetBurst on a penalised address's connections.
const probationBurst = 10

type offender struct {
	strikes int
	last    time.Time // the latest strike
}

// resetPenalty remembers the addresses whose connections the guard cut off.
// It is safe for concurrent use. Only new connections and trips touch it,
// never a request.
type resetPenalty struct {
	n   atomic.Int32 // entries; zero lets every new connection skip the lock
	mu  sync.Mutex
	m   map[netip.Addr]offender
	now func() time.Time
}

func newResetPenalty() *resetPenalty {
	return &resetPenalty{m: make(map[netip.Addr]offender), now: time.Now}
}

// strike records a cut-off connection from a and returns the address's
// strike count.
func (p *resetPenalty) strike(a netip.Addr) int {
	if !a.IsValid() {
		return 0
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.m[a]
	if ok && now.Sub(o.last) > penaltyTTL {
		o = offender{}
	}
	if !ok && len(p.m) >= penaltyMaxAddrs {
		p.evictLocked(now)
	}
	o.strikes++
	o.last = now
	p.m[a] = o
	p.n.Store(int32(len(p.m)))
	return o.strikes
}

// evictLocked makes room for one entry: expired entries go first, and if
// none has expired, an arbitrary one (map order).
func (p *resetPenalty) evictLocked(now time.Time) {
	for a, o := range p.m {
		if now.Sub(o.last) > penaltyTTL {
			delete(p.m, a)
		}
	}
	for a := range p.m {
		if len(p.m) < penaltyMaxAddrs {
			break
		}
		delete(p.m, a)
	}
}

// check says how long a new connection from a waits before it is served,
// and whether it is on probation; zero and false for an address in good
// standing.
func (p *resetPenalty) check(a netip.Addr) (time.Duration, bool) {
	if p.n.Load() == 0 || !a.IsValid() {
		return 0, false
	}
	now := p.now()
	p.mu.Lock()
	defer p.mu.Unlock()
	o, ok := p.m[a]
	if !ok {
		return 0, false
	}
	if now.Sub(o.last) > penaltyTTL {
		delete(p.m, a)
		p.n.Store(int32(len(p.m)))
		return 0, false
	}
	d := penaltyMaxDelay
	if o.strikes <= 3 { // 50, 100, 200 ms, then the cap
		d = penaltyBaseDelay << (o.strikes - 1)
	}
	return min(d, penaltyMaxDelay), true
}

// remoteIP is c's peer address, or the zero Addr when it is not IP (a
// Unix socket, a test pipe): such connections are never penalised.
func remoteIP(c net.Conn) netip.Addr {
	if ta, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}

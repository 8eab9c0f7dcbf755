package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/drain"
	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/mirror"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
	"github.com/weft-mesh/weft/internal/telemetry"
	"github.com/weft-mesh/weft/internal/telemetry/accesslog"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// HTTP1Config configures the HTTP/1.1 engine. Zero values are safe defaults.
type HTTP1Config struct {
	Name      string // listener name, for logs
	Direction string // "inbound" or "outbound": metrics and header policy
	// LocalID, when set, is this sidecar's SPIFFE ID (the By of the
	// X-Forwarded-Client-Cert an inbound mTLS request gets). nil: no By.
	LocalID func() string
	Runtime *Runtime // routing and upstream state
	// OnMiss, when set, is asked for a newer state when no route matches a
	// request's host (a sidecar learning the services its app calls); nil
	// keeps the 404. It may block, bounded by its own timeout; only the
	// miss path pays for it.
	OnMiss func(host []byte) *State
	// ForceHost routes every request as if addressed to this host: a local
	// port bound to one service. The Host header is forwarded unchanged.
	ForceHost string
	// MaxHeaderBytes caps a request head (431 beyond). Zero means 32 KiB.
	MaxHeaderBytes int
	// MaxHeaders caps header fields (431 beyond). Zero means 100.
	MaxHeaders int
	// HeaderTimeout bounds receiving a request head once its first byte
	// arrived (slowloris). Zero means 10s.
	HeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection waiting for its next
	// request. Zero means 60s.
	IdleTimeout time.Duration
	// RequestTimeout bounds a whole exchange when the route sets none
	// (504 if no response started). Zero means 15s.
	RequestTimeout time.Duration
	// TunnelIdleTimeout closes CONNECT and WebSocket tunnels with no
	// traffic. Zero means 1h.
	TunnelIdleTimeout time.Duration
	// TrustForwarded believes the downstream's X-Forwarded-*, Forwarded
	// and X-Real-IP headers (this hop's address is appended to
	// X-Forwarded-For and Forwarded), and on inbound its X-Weft-* headers.
	// False (the default) drops them and sets X-Forwarded-For and
	// X-Forwarded-Proto from the connection itself, as an edge proxy must:
	// the client controls every byte of them. X-Mesh-Identity is never
	// taken from a downstream.
	TrustForwarded bool
	// Mirror sends the copies of RequestMirror filters; share one per
	// sidecar so its per-cluster bound holds across listeners. Nil means
	// one of the engine's own, with mirror's defaults.
	Mirror  *mirror.Sender
	Metrics *telemetry.ProxyMetrics
	// Self is this sidecar's workload, for the metrics' labels and the
	// peer header the outbound side sends; nil labels it unknown.
	Self *Self
	// Tracer records spans and rewrites trace headers; nil passes trace
	// headers through untouched.
	Tracer *tracing.Tracer
	// AccessLog writes a line per request; nil writes none.
	AccessLog *accesslog.Logger
	// Tap streams finished requests to `weft tap` sessions; nil, or no
	// session open, costs one check per request.
	Tap    *tap.Hub
	Logger *slog.Logger
}

func (c *HTTP1Config) defaults() {
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.TunnelIdleTimeout <= 0 {
		c.TunnelIdleTimeout = time.Hour
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// HTTP1 is the HTTP/1.1 engine: one goroutine per downstream connection,
// our own codec, pooled upstream connections, and one write per direction
// per request where the body fits in the buffer.
type HTTP1 struct {
	cfg       HTTP1Config
	log       *slog.Logger
	lim       h1.Limits
	forceHost []byte
	mirror    *mirror.Sender

	tunnelMu sync.Mutex            // guards creating tunnelH2
	tunnelH2 atomic.Pointer[HTTP2] // serves HTTP/2 inside CONNECT tunnels

	conns    drain.Group[*h1conn]
	mu       sync.Mutex // guards sweeping
	sweeping bool
	// shortest is the shortest route timeout a request has had (ns; 0
	// none): the sweeper ticks often enough to keep it within 5 %.
	shortest atomic.Int64
	kick     chan struct{} // wakes the sweeper when shortest drops
	draining atomic.Bool
}

// NewHTTP1 returns an HTTP/1.1 engine.
func NewHTTP1(cfg HTTP1Config) *HTTP1 {
	cfg.defaults()
	h := &HTTP1{kick: make(chan struct{}, 1),
		cfg: cfg,
		log: cfg.Logger.With("component", "http1", "listener", cfg.Name),
		lim: h1.Limits{MaxHeaderBytes: cfg.MaxHeaderBytes, MaxHeaders: cfg.MaxHeaders},
	}
	h.mirror = cfg.Mirror
	if h.mirror == nil {
		h.mirror = mirror.New(mirror.Config{Observe: cfg.Metrics.Mirror, Logger: cfg.Logger})
	}
	if cfg.ForceHost != "" {
		fh, err := route.NormalizeHost(nil, []byte(cfg.ForceHost))
		if err != nil {
			fh = []byte(cfg.ForceHost) // matches no route: every request gets 404
		}
		h.forceHost = fh
	}
	return h
}

const bufSize = 4 << 10

var (
	readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufSize) }}
	writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufSize) }}
)

// connection phases, for the sweeper's timeouts.
const (
	phaseIdle int32 = iota
	phaseHeader
	phaseActive
	phaseTunnel
)

// h1conn is one downstream connection's state, reused across requests.
type h1conn struct {
	h        *HTTP1
	c        net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	req      h1.Request
	resp     h1.Response
	hostBuf  []byte
	pathBuf  []byte
	scratch  []byte
	clientIP []byte
	// xfcc is the X-Forwarded-Client-Cert value of an inbound mTLS
	// connection's verified peer, nil otherwise.
	xfcc []byte
	rng  uint64
	// peer is the connection's verified SPIFFE ID (PeerID), localPort the
	// port it arrived on: read once per connection for authorization and
	// the metrics' source labels.
	peer      string
	localPort uint32
	paramless []byte // the path without ;parameters, for authorization
	// forceHost routes every request as if addressed to it: the engine's
	// ForceHost, or the mesh service a CONNECT tunnel was opened to
	// (kept in tunnelHost).
	forceHost  []byte
	tunnelHost []byte

	phase    atomic.Int32
	deadline atomic.Int64 // unix ns; 0 = none
	expired  atomic.Int32 // times the active deadline fired
	idleWait atomic.Bool  // blocked waiting for a next request, nothing buffered
	up       atomic.Pointer[upstream.Conn]
	// peerFlags keeps the upstream's response-flags header: set per
	// exchange when the upstream is a peer sidecar proven by mTLS.
	peerFlags bool
	// reqMods and respMods are the header edits of the route the current
	// request matched (nil: none); set per request by forward and bridge.
	reqMods, respMods *route.HeaderMods
	// hostRewrite is the Host a URLRewrite sends upstream ("" keeps the
	// request's); rewriteBuf the other path buffer a rewrite swaps in.
	hostRewrite string
	rewriteBuf  []byte
	// replay holds the request body when a retry may send it again
	// (replaying is then set); continued records the 100 sent.
	replay               []byte
	replaying, continued bool
	// retryHeld: this request holds a unit of its cluster's breaker
	// Retries cap (taken by its first retry, released when it ends).
	retryHeld bool
	// hop is the current request's trace state; upStart when its first
	// upstream try began; reqID the id this proxy generated for it.
	hop     tracing.Hop
	upStart time.Time
	reqID   [32]byte
	// rec is the current request's metrics record, filled in place; see
	// metrics_h1.go.
	rec telemetry.Request
	// peerHdr and peerSrc cache the last trusted peer header and its
	// parse, so a connection's steady state parses nothing.
	peerHdr []byte
	peerSrc telemetry.Workload
	// dst caches the destination labels of the last cluster and endpoint
	// labelled (see destination): a keep-alive connection's requests
	// mostly go to the same endpoint.
	dst dstLabels
}

// ServeConn serves one downstream connection until it ends. The caller
// owns c and closes it after ServeConn returns.
func (h *HTTP1) ServeConn(ctx context.Context, c net.Conn) { h.serveConn(ctx, c, h.forceHost) }

// ServeConnAs serves one downstream connection whose every request is
// routed as if addressed to host, a normalised mesh host: a transparently
// captured connection to a service's virtual IP, as an outbound port
// bound to that service would route it. The Host header is forwarded
// unchanged.
func (h *HTTP1) ServeConnAs(ctx context.Context, c net.Conn, host []byte) {
	h.serveConn(ctx, c, host)
}

func (h *HTTP1) serveConn(ctx context.Context, c net.Conn, force []byte) {
	hc := &h1conn{h: h, c: c, rng: rand.Uint64() | 1, forceHost: force, peer: PeerID(c), localPort: localPort(c)}
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		hc.clientIP, _ = a.IP.AppendText(nil)
	} else if host, _, err := net.SplitHostPort(c.RemoteAddr().String()); err == nil {
		hc.clientIP = []byte(host)
	}
	if h.cfg.Direction == "inbound" {
		hc.xfcc = xfccFor(c, h.cfg.LocalID)
	}
	if !h.register(hc) {
		return
	}
	hc.initRec()
	defer h.unregister(hc)
	hc.br = readers.Get().(*bufio.Reader)
	hc.bw = writers.Get().(*bufio.Writer)
	hc.br.Reset(c)
	hc.bw.Reset(c)
	defer func() {
		hc.br.Reset(nil)
		hc.bw.Reset(nil)
		readers.Put(hc.br)
		writers.Put(hc.bw)
	}()
	hc.loop()
}

// setPhase stores the deadline before the phase, so a sweeper that sees
// the new phase also sees its deadline (expire checks it again).
func (hc *h1conn) setPhase(p int32, d time.Duration) {
	if d > 0 {
		hc.deadline.Store(time.Now().Add(d).UnixNano())
	} else {
		hc.deadline.Store(0)
	}
	hc.phase.Store(p)
}

func (hc *h1conn) loop() {
	h := hc.h
	for {
		if h.draining.Load() {
			return
		}
		hc.setPhase(phaseIdle, h.cfg.IdleTimeout)
		hc.idleWait.Store(hc.br.Buffered() == 0)
		_, err := hc.br.Peek(1)
		hc.idleWait.Store(false)
		if err != nil {
			return
		}
		hc.expired.Store(0)
		hc.hop.Active = false // a head refused below is no traced request
		hc.setPhase(phaseHeader, h.cfg.HeaderTimeout)
		if err := hc.req.Read(hc.br, h.lim); err != nil {
			if hc.expired.Load() > 0 {
				// The head did not arrive in time: say so before closing,
				// as net/http does, rather than leave the client guessing.
				hc.meshAnswered(telemetry.FlagStreamIdleTimeout, 408, "request head not received in time", nil, "", "", 0, true)
				return
			}
			if hc.br.Buffered() == 0 && isClosed(err) {
				return
			}
			code := h1.Status(err)
			h.log.Debug("bad request", "remote", hc.c.RemoteAddr(), "err", err, "status", code)
			hc.meshAnswered(telemetry.FlagDownstreamProtocolError, code, badRequestWords(code), nil, "", "", 0, true)
			hc.lingerClose()
			return
		}
		start := time.Now()
		hc.setPhase(phaseActive, h.cfg.RequestTimeout)
		if !hc.serve(start) {
			return
		}
	}
}

// isClosed reports a connection that ended rather than misbehaved.
func isClosed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, os.ErrDeadlineExceeded)
}

func (h *HTTP1) register(hc *h1conn) bool {
	if !h.conns.Add(hc, func() { hc.c.Close() }) {
		return false
	}
	h.mu.Lock()
	if !h.sweeping {
		h.sweeping = true
		go h.sweep()
	}
	h.mu.Unlock()
	return true
}

func (h *HTTP1) unregister(hc *h1conn) { h.conns.Done(hc) }

// sweepEvery is how often deadlines are checked: a quarter of the shortest
// limit, a twentieth of the shortest route timeout seen (a route's timeout
// is a promise to the caller: 300ms must not fire at 1s), between 5ms and
// a second. Timeouts are enforced by one goroutine per engine instead of
// deadline calls per request, which cost measurable CPU.
func (h *HTTP1) sweepEvery() time.Duration {
	d := min(h.cfg.HeaderTimeout, h.cfg.IdleTimeout, h.cfg.RequestTimeout) / 4
	if s := time.Duration(h.shortest.Load()); s > 0 {
		d = min(d, s/20)
	}
	return max(min(d, time.Second), 5*time.Millisecond)
}

// noteTimeout records a request's route timeout d, waking the sweeper to
// tick faster when d is the shortest yet. It stays short after the route
// goes: a faster sweep costs little, a late timeout breaks a promise.
func (h *HTTP1) noteTimeout(d time.Duration) {
	for {
		cur := h.shortest.Load()
		if cur != 0 && cur <= int64(d) {
			return
		}
		if h.shortest.CompareAndSwap(cur, int64(d)) {
			select {
			case h.kick <- struct{}{}:
			default:
			}
			return
		}
	}
}

func (h *HTTP1) sweep() {
	every := h.sweepEvery()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-h.kick:
		}
		if e := h.sweepEvery(); e != every {
			every = e
			t.Reset(e)
		}
		now := time.Now().UnixNano()
		h.mu.Lock()
		if h.conns.Len() == 0 {
			h.sweeping = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		h.conns.Each(func(hc *h1conn) {
			if d := hc.deadline.Load(); d != 0 && now >= d {
				hc.expire()
			}
		})
	}
}

// expire enforces a passed deadline. A head still arriving loses its
// pending read, so the engine can answer 408; an active request first
// loses its upstream and its pending downstream read, so the engine can
// still answer 504. If either is still stuck a second later, or the
// connection was idle, it is closed.
func (hc *h1conn) expire() {
	p := hc.phase.Load()
	if d := hc.deadline.Load(); d == 0 || time.Now().UnixNano() < d {
		return // the connection moved on to a new phase meanwhile
	}
	if p != phaseActive && p != phaseHeader || hc.expired.Add(1) > 1 {
		hc.c.Close()
		return
	}
	if uc := hc.up.Load(); p == phaseActive && uc != nil {
		uc.Conn.Close()
	}
	hc.c.SetReadDeadline(time.Unix(0, 1))
	hc.deadline.Store(time.Now().Add(time.Second).UnixNano())
}

// Lingering close bounds: how long, and how many bytes, the proxy keeps
// reading and discarding a client's input after answering an error.
const (
	lingerTimeout = 500 * time.Millisecond
	lingerBytes   = 256 << 10
)

// lingerClose runs after an error response when the client may still be
// sending (a head too large, a body the proxy will not read). Closing a
// socket with unread input makes the kernel send a reset, which can
// destroy the response before the client reads it. So, as net/http's
// server does, it shuts down the write side (the client sees the end of
// the response) and reads and discards input for a bounded time and size
// before the caller closes.
func (hc *h1conn) lingerClose() {
	cw, ok := hc.c.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return
	}
	hc.setPhase(phaseIdle, lingerTimeout+time.Second) // the sweeper's backstop
	hc.c.SetReadDeadline(time.Now().Add(lingerTimeout))
	io.CopyN(io.Discard, hc.br, lingerBytes)
}

// Shutdown drains: idle keep-alive connections close now; busy ones finish
// their current exchange, answer it with Connection: close, then close.
func (h *HTTP1) Shutdown(ctx context.Context) error {
	h.draining.Store(true)
	h.conns.Close()
	h.conns.Each(func(hc *h1conn) {
		if hc.idleWait.Load() {
			hc.c.Close()
		}
	})
	if t := h.tunnelH2.Load(); t != nil {
		t.Shutdown(ctx) // ends with the connections it serves; their errors show below
	}
	if err := h.conns.Wait(ctx); err != nil {
		return fmt.Errorf("http1 shutdown %s: %w", h.cfg.Name, err)
	}
	return nil
}

// Get implements route.Headers over the parsed request. name is lowercase.
func (hc *h1conn) Get(name string) ([]byte, bool) {
	for _, f := range hc.req.Headers {
		if h1.EqualFold(f.Name, name) {
			return f.Value, true
		}
	}
	return nil, false
}

var _ route.Headers = (*h1conn)(nil)

// next is a per-connection xorshift: cheap randomness for weights and ids.
func (hc *h1conn) next() uint64 {
	x := hc.rng
	x ^= x << 13
	x ^= x >> 7
	x ^= x << 17
	hc.rng = x
	return x
}

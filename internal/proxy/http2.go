package proxy

import (
	"context"
	"fmt"
	"github.com/weft-mesh/weft/internal/proxy/mirror"
	"log/slog"
	"net"
	"net/http"
	"time"

	"golang.org/x/net/http2"

	"github.com/weft-mesh/weft/internal/proxy/drain"
	"github.com/weft-mesh/weft/internal/proxy/h1"

	"github.com/weft-mesh/weft/internal/telemetry"
	"github.com/weft-mesh/weft/internal/telemetry/accesslog"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// HTTP2Config configures the HTTP/2 engine. Zero values are safe defaults.
type HTTP2Config struct {
	Name      string // listener name, for logs
	Direction string // "inbound" or "outbound", for metrics and header policy
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
	// port bound to one service.
	ForceHost string
	// MaxHeaderBytes caps a request's decoded header list (HPACK bombs
	// included); beyond it the stream gets 431. It also caps the head of
	// an HTTP/1.1 upstream's response (beyond it the client gets 502).
	// Zero means 32 KiB.
	MaxHeaderBytes int
	// MaxConcurrentStreams per connection; more are refused (and rapid
	// reset is bounded by it). Zero means 100.
	MaxConcurrentStreams uint32
	// MaxClientResets caps the streams a client may cancel (RST_STREAM)
	// on one connection within a second. Past it, or past 100 when more
	// than half of the streams it opened in that second were cancelled,
	// the connection gets GOAWAY(ENHANCE_YOUR_CALM) and is closed: rapid
	// reset (CVE-2023-44487) costs CPU even when memory is bounded. The
	// client's address is then remembered for 10 s: its new connections
	// wait 50 ms before they are served (doubling with each offence, at
	// most 250 ms) and are cut off after 10 cancels. Zero means 1000.
	MaxClientResets int
	// IdleTimeout closes connections with no open stream. Zero means 60s.
	IdleTimeout time.Duration
	// RequestTimeout is the default route timeout. Zero means 15s.
	RequestTimeout time.Duration
	// WriteTimeout closes a connection on which no byte could be written
	// for this long: a peer that stopped reading, such as a PING or
	// SETTINGS flooder (CVE-2019-9512/9515). Zero means 10s.
	WriteTimeout time.Duration
	// Mirror sends the copies of RequestMirror filters (see
	// HTTP1Config.Mirror). Nil means one of the engine's own.
	Mirror  *mirror.Sender
	Metrics *telemetry.ProxyMetrics
	// Self: see HTTP1Config.Self.
	Self *Self
	// Tracer records spans and rewrites trace headers; nil passes trace
	// headers through untouched.
	Tracer *tracing.Tracer
	// AccessLog writes a line per request; nil writes none.
	AccessLog *accesslog.Logger
	// Tap: see HTTP1Config.Tap.
	Tap    *tap.Hub
	Logger *slog.Logger

	// TrustForwarded: see HTTP1Config.TrustForwarded. False (the default)
	// drops the downstream's forwarding headers and sets its own.
	TrustForwarded bool
}

func (c *HTTP2Config) defaults() {
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = 32 << 10
	}
	if c.MaxConcurrentStreams == 0 {
		c.MaxConcurrentStreams = 100
	}
	if c.MaxClientResets <= 0 {
		c.MaxClientResets = 1000
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = 15 * time.Second
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// headerListSlack is how far past MaxHeaderBytes x/net decodes a header
// list (and the SETTINGS_MAX_HEADER_LIST_SIZE it advertises): lists up to
// there get a 431 on their stream; only larger ones cost the connection.
const headerListSlack = 4

// HTTP2 serves HTTP/2 (prior-knowledge h2c, or h2 on TLS) and gRPC. It uses
// x/net/http2's server, whose frame handling carries the fixes for rapid
// reset, CONTINUATION floods and HPACK bombs, with explicit caps.
//
// x/net's Server and ServeConn are deprecated in favour of net/http's
// Server.Serve, which has no way to serve one connection that is already
// accepted: the listener sniffs the protocol, the guard wraps the
// connection (so net/http would neither see the *tls.Conn it requires for
// h2 nor heed the guard's ENHANCE_YOUR_CALM error), and the caller needs
// ServeConn to return when that connection ends. Every x/net setting with
// a net/http counterpart is set there (base.HTTP2), which x/net reads.
type HTTP2 struct {
	cfg HTTP2Config
	log *slog.Logger
	//lint:ignore SA1019 no net/http replacement serves an accepted, wrapped net.Conn (see HTTP2)
	srv  *http2.Server
	base *http.Server // carries limits and the graceful-shutdown hook
	lim  h1.Limits    // caps on HTTP/1.1 upstream response heads

	conns   drain.Group[net.Conn]
	penalty *resetPenalty // addresses the rapid-reset guard cut off
	mirror  *mirror.Sender
}

// NewHTTP2 returns an HTTP/2 engine.
func NewHTTP2(cfg HTTP2Config) *HTTP2 {
	cfg.defaults()
	h := &HTTP2{
		cfg: cfg,
		log: cfg.Logger.With("component", "http2", "listener", cfg.Name),
		lim: h1.Limits{MaxHeaderBytes: cfg.MaxHeaderBytes},

		penalty: newResetPenalty(),
		mirror:  cfg.Mirror,
	}
	if h.mirror == nil {
		h.mirror = mirror.New(mirror.Config{Observe: cfg.Metrics.Mirror, Logger: cfg.Logger})
	}
	h.base = &http.Server{
		Handler: h,
		// x/net turns a list over this into a connection error when more
		// CONTINUATION frames follow, so it gets headroom and ServeHTTP
		// enforces cfg.MaxHeaderBytes with a 431 on the stream.
		MaxHeaderBytes:    headerListSlack * cfg.MaxHeaderBytes,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       cfg.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(h.log.Handler(), slog.LevelDebug),
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: int(cfg.MaxConcurrentStreams),
			// Envoy's edge guidance: 64 KiB stream and 1 MiB connection windows.
			MaxReceiveBufferPerStream:     64 << 10,
			MaxReceiveBufferPerConnection: 1 << 20,
			// The RFC's initial 16 KiB (x/net would advertise 1 MiB): a frame
			// read is buffered whole, and a client that believed the larger
			// size would overrun the 64 KiB stream window in one DATA frame.
			MaxReadFrameSize:          16 << 10,
			MaxDecoderHeaderTableSize: 4 << 10,
			MaxEncoderHeaderTableSize: 4 << 10,
			SendPingTimeout:           30 * time.Second,
			PingTimeout:               10 * time.Second,
			WriteByteTimeout:          cfg.WriteTimeout,
		},
	}
	//lint:ignore SA1019 no net/http replacement serves an accepted, wrapped net.Conn (see HTTP2)
	h.srv = new(http2.Server)
	// ConfigureServer copies base's IdleTimeout and registers the hook by
	// which base.Shutdown sends GOAWAY on the connections ServeConn serves.
	//lint:ignore SA1019 the x/net server's graceful shutdown has no other hook (see HTTP2)
	if err := http2.ConfigureServer(h.base, h.srv); err != nil {
		// ConfigureServer fails only on TLS settings we never set.
		panic(fmt.Sprintf("http2: configure server: %v", err))
	}
	return h
}

// ServeConn serves one HTTP/2 connection until it ends.
func (h *HTTP2) ServeConn(ctx context.Context, c net.Conn) {
	if !h.conns.Add(c, func() { c.Close() }) {
		c.Close()
		return
	}
	defer h.conns.Done(c)
	ip := remoteIP(c)
	wait, probation := h.penalty.check(ip)
	if wait > 0 {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			c.Close()
			return
		}
	}
	ctx = withConnInfo(ctx, c)
	//lint:ignore SA1019 no net/http replacement serves an accepted, wrapped net.Conn (see HTTP2)
	h.srv.ServeConn(h.guard(c, ip, probation), &http2.ServeConnOpts{Context: ctx, BaseConfig: h.base, Handler: h})
}

// Shutdown sends GOAWAY on every connection, lets open streams finish, and
// closes what is left when ctx expires.
func (h *HTTP2) Shutdown(ctx context.Context) error {
	h.conns.Close()
	h.base.Shutdown(ctx) // runs the registered GOAWAY hook for our conns
	if err := h.conns.Wait(ctx); err != nil {
		return fmt.Errorf("http2 shutdown %s: %w", h.cfg.Name, err)
	}
	return nil
}

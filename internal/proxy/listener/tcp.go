package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/drain"
)

// TCPConfig configures a TCPProxy. Zero values are safe defaults.
type TCPConfig struct {
	Name string
	// Pick chooses the upstream address for a new connection; done, when
	// not nil, is called once with the tunnel's outcome.
	// down is the downstream connection (its mTLS peer labels metrics).
	Pick func(down net.Conn) (addr string, done func(Outcome), err error)
	// UpstreamTLS, when set, is asked for the TLS to wrap the connection
	// to addr in (a peer sidecar's mTLS); nil: plaintext.
	UpstreamTLS func(addr string) *tls.Config
	// DialTimeout bounds connecting upstream. Zero means 2s.
	DialTimeout time.Duration
	// IdleTimeout closes a tunnel with no traffic either way. Zero means 1h.
	IdleTimeout time.Duration
	// MaxTunnels caps concurrent tunnels. Zero means 10000.
	MaxTunnels int
	Logger     *slog.Logger
}

// TCPProxy forwards opaque bytes both ways between a downstream connection
// and an upstream it dials.
type TCPProxy struct {
	cfg   TCPConfig
	log   *slog.Logger
	slots chan struct{}

	tunnels drain.Group[*tunnel]
}

type tunnel struct{ down, up net.Conn }

// Outcome is how a tunnel ended: its error (nil for a clean end) and the
// bytes it moved each way, for the TCP metrics.
type Outcome struct {
	Err error
	// Sent is bytes written to the downstream (the upstream's answer),
	// Received bytes read from it.
	Sent, Received int64
}

// NewTCPProxy returns a TCP handler.
func NewTCPProxy(cfg TCPConfig) *TCPProxy {
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 2 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Hour
	}
	if cfg.MaxTunnels <= 0 {
		cfg.MaxTunnels = 10000
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &TCPProxy{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "tcpproxy", "listener", cfg.Name),
		slots: make(chan struct{}, cfg.MaxTunnels),
	}
}

var errTunnelCap = errors.New("tcp: tunnel limit reached")

// ServeConn tunnels c to an upstream until either side ends.
func (p *TCPProxy) ServeConn(ctx context.Context, c net.Conn) {
	select {
	case p.slots <- struct{}{}:
		defer func() { <-p.slots }()
	default:
		p.log.Warn("refusing connection", "err", errTunnelCap)
		return
	}
	addr, done, err := p.cfg.Pick(c)
	if err != nil {
		p.log.Warn("no upstream", "err", err)
		return
	}
	out := p.tunnel(ctx, c, addr)
	if done != nil {
		done(out)
	}
}

func (p *TCPProxy) tunnel(ctx context.Context, down net.Conn, addr string) Outcome {
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	up, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return Outcome{Err: fmt.Errorf("tcp dial %s: %w", addr, err)}
	}
	var pendingN int64
	defer up.Close()
	if p.cfg.UpstreamTLS != nil {
		if tc := p.cfg.UpstreamTLS(addr); tc != nil {
			c := tls.Client(up, tc)
			if err := c.HandshakeContext(dctx); err != nil {
				return Outcome{Err: fmt.Errorf("tcp tls handshake %s: %w", addr, err)}
			}
			up = c
		}
	}
	// Forward the sniffed bytes, then use the raw socket so io.Copy can
	// splice in the kernel.
	if pc, ok := down.(interface{ Unwrap() (net.Conn, []byte) }); ok {
		raw, pending := pc.Unwrap()
		if len(pending) > 0 {
			if _, err := up.Write(pending); err != nil {
				return Outcome{Err: fmt.Errorf("tcp write %s: %w", addr, err)}
			}
			pendingN = int64(len(pending))
		}
		down = raw
	}
	t := &tunnel{down: down, up: up}
	if !p.tunnels.Add(t, func() { down.Close(); up.Close() }) {
		return Outcome{Err: errors.New("tcp: shutting down"), Received: pendingN}
	}
	defer p.tunnels.Done(t)
	toUp, toDown, err := PipeN(down, up, p.cfg.IdleTimeout)
	return Outcome{Err: err, Sent: toDown, Received: toUp + pendingN}
}

// Pipe copies both ways until both directions end, propagating half-close,
// and closes both connections if neither side moves a byte for idle.
func Pipe(a, b net.Conn, idle time.Duration) error {
	_, _, err := PipeN(a, b, idle)
	return err
}

// PipeN is Pipe that also returns the bytes copied from a to b and from b
// to a.
func PipeN(a, b net.Conn, idle time.Duration) (aToB, bToA int64, err error) {
	a, b = unwrapConn(a), unwrapConn(b)
	var last lastActive
	last.touch()
	errc := make(chan error, 2)
	cp := func(dst, src net.Conn, n *int64) {
		var err error
		*n, err = copyActive(dst, src, &last)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
		errc <- err
	}
	go cp(b, a, &aToB)
	go cp(a, b, &bToA)
	tick := time.NewTicker(min(idle/4+time.Millisecond, time.Minute))
	defer tick.Stop()
	var firstErr error
	for n := 0; n < 2; {
		select {
		case err := <-errc:
			n++
			if firstErr == nil {
				firstErr = err
			}
		case <-tick.C:
			if last.since() > idle {
				a.Close()
				b.Close()
			}
		}
	}
	return aToB, bToA, firstErr
}

// copyActive copies src to dst and records activity. Raw sockets copy by
// readiness (see splice.go): no pipe or buffer is held while a direction
// is quiet. Anything else (TLS) copies through a pooled buffer, never
// through the runtime's own splice, whose pipes outlive the tunnel.
func copyActive(dst, src net.Conn, last *lastActive) (int64, error) {
	if n, ok, err := readinessCopy(dst, src, last); ok {
		return n, err
	}
	bp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bp)
	return io.CopyBuffer(writerOnly{dst}, activityReader{src, last}, *bp)
}

// writerOnly hides ReadFrom, so io.CopyBuffer uses the pooled buffer
// instead of TCPConn.ReadFrom's own allocation or splice.
type writerOnly struct{ io.Writer }

// unwrapConn returns the socket under a sniffing wrapper once its replay
// bytes are consumed, so the copy can reach the raw fd.
func unwrapConn(c net.Conn) net.Conn {
	if pc, ok := c.(interface{ Unwrap() (net.Conn, []byte) }); ok {
		if raw, pending := pc.Unwrap(); len(pending) == 0 {
			return raw
		}
	}
	return c
}

// Shutdown waits for tunnels to end until ctx expires, then closes them.
// Opaque streams have no way to ask a peer to finish, so they get the
// whole drain window.
func (p *TCPProxy) Shutdown(ctx context.Context) error {
	p.tunnels.Close()
	if err := p.tunnels.Wait(ctx); err != nil {
		return fmt.Errorf("tcp shutdown %s: %w", p.cfg.Name, err)
	}
	return nil
}

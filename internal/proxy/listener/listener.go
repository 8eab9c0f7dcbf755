package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/drain"
)

// Listener is one bound address with its accept loop.
type Listener struct {
	cfg  Config
	ln   net.Listener
	log  *slog.Logger
	sem  chan struct{} // one token per open connection
	done chan struct{} // closed by Shutdown

	conns    drain.Group[net.Conn]
	waiting  waiters // connections yet to send their first byte
	shutOnce sync.Once
}

// New validates cfg and binds its address.
func New(cfg Config) (*Listener, error) {
	cfg.defaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", cfg.Name, err)
	}
	return &Listener{
		cfg:  cfg,
		ln:   ln,
		log:  cfg.Logger.With("component", "listener", "listener", cfg.Name),
		sem:  make(chan struct{}, cfg.MaxConns),
		done: make(chan struct{}),
	}, nil
}

// Addr is the bound address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Serve accepts until Shutdown. It returns nil after Shutdown, or the error
// that stopped accepting.
func (l *Listener) Serve(ctx context.Context) error {
	var backoff time.Duration
	for {
		// Take a slot before accepting, so at the cap the kernel backlog
		// holds new connections instead of a hot accept-and-close loop.
		select {
		case l.sem <- struct{}{}:
		default:
			l.cfg.Metrics.ConnRejected(l.cfg.Name)
			select {
			case l.sem <- struct{}{}:
			case <-l.done:
				return nil
			}
		}
		if !l.takeFDs() {
			<-l.sem
			return nil
		}
		c, err := l.ln.Accept()
		if err != nil {
			l.cfg.FDs.release()
			<-l.sem
			select {
			case <-l.done:
				return nil
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || isTemporary(err) {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				l.log.Warn("accept failed; backing off", "err", err, "backoff", backoff)
				select {
				case <-time.After(backoff):
					continue
				case <-l.done:
					return nil
				}
			}
			return fmt.Errorf("accept %s: %w", l.cfg.Name, err)
		}
		backoff = 0
		if !l.conns.Add(c, func() { c.Close() }) {
			c.Close()
			l.cfg.FDs.release()
			<-l.sem
			return nil
		}
		go l.serveConn(ctx, c)
	}
}

// takeFDs takes this connection's share of the process fd budget,
// waiting (accept paused) while the budget is spent. False: shut down.
func (l *Listener) takeFDs() bool {
	if ok, _ := l.cfg.FDs.tryAcquire(); ok {
		return true
	}
	l.cfg.Metrics.ConnRejected(l.cfg.Name)
	return l.cfg.FDs.acquire(l.done)
}

// isTemporary matches resource exhaustion (EMFILE, ENFILE, ENOBUFS...):
// worth retrying after a pause, unlike a closed listener.
func isTemporary(err error) bool {
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

func (l *Listener) serveConn(ctx context.Context, raw net.Conn) {
	l.cfg.Metrics.ConnOpened(l.cfg.Name)
	defer func() {
		raw.Close()
		l.conns.Done(raw)
		l.cfg.FDs.release()
		<-l.sem
		l.cfg.Metrics.ConnClosed(l.cfg.Name)
	}()
	h, c := l.dispatch(raw)
	if h == nil {
		return
	}
	h.ServeConn(ctx, c)
}

// terminate completes a TLS handshake and routes by ALPN.
func (l *Listener) terminate(c net.Conn) (Handler, net.Conn) {
	tc := tls.Server(c, l.cfg.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		l.log.Debug("tls handshake failed", "remote", c.RemoteAddr(), "err", err)
		return nil, nil
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" {
		return l.cfg.HTTP2, tc
	}
	return l.cfg.HTTP1, tc
}

// Shutdown stops accepting, asks the handlers to drain, and waits for every
// connection to end until ctx expires; then it closes what is left.
func (l *Listener) Shutdown(ctx context.Context) error {
	l.shutOnce.Do(func() {
		l.conns.Close()
		l.waiting.closeAll() // idle, like keep-alives between requests
		close(l.done)
		l.ln.Close()
	})
	var wg sync.WaitGroup
	errc := make(chan error, 3)
	seen := map[Handler]bool{}
	for _, h := range []Handler{l.cfg.HTTP1, l.cfg.HTTP2, l.cfg.TCP} {
		s, ok := h.(Shutdowner)
		if !ok || seen[h] {
			continue
		}
		seen[h] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.Shutdown(ctx); err != nil {
				errc <- err
			}
		}()
	}
	var err error
	if werr := l.conns.Wait(ctx); werr != nil {
		err = fmt.Errorf("shutdown %s: %w", l.cfg.Name, werr)
	}
	wg.Wait()
	close(errc)
	for e := range errc {
		err = errors.Join(err, e)
	}
	return err
}

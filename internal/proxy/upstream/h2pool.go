package upstream

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// H2Pool multiplexes requests to one endpoint over a few HTTP/2 connections
// (h2c with prior knowledge, or h2 via ALPN when Config.TLS is set). The
// transport opens another connection only when a connection's streams are
// exhausted.
type H2Pool struct {
	cfg     Config
	tr      *http.Transport
	h1Until atomic.Int64 // unix ns until which the endpoint is HTTP/1.1-only
}

// NewH2Pool returns a pool that dials on demand.
func NewH2Pool(cfg Config) *H2Pool {
	cfg.defaults()
	p := &H2Pool{cfg: cfg}
	// HTTP/2 only: h2c with prior knowledge for http:// URLs, h2 for
	// https:// ones (RoundTrip picks the scheme). Never HTTP/1.1: an
	// upstream declared HTTP/2 that cannot speak it is an error, not a
	// downgrade.
	var protos http.Protocols
	if cfg.TLS == nil {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP2(true)
	}
	p.tr = &http.Transport{
		Protocols:          &protos,
		DisableCompression: true,
		IdleConnTimeout:    cfg.IdleTimeout,
		// 64 KiB header lists match the downstream cap with room for what
		// the proxy adds.
		MaxResponseHeaderBytes: 64 << 10,
		HTTP2: &http.HTTP2Config{
			// Detect a dead peer on an idle connection instead of waiting for TCP.
			SendPingTimeout:  30 * time.Second,
			PingTimeout:      10 * time.Second,
			WriteByteTimeout: 30 * time.Second,
			// Open another connection instead of queueing when a peer's
			// stream limit is reached (or set to 0 after a GOAWAY).
			StrictMaxConcurrentRequests: false,
		},
		DialContext:    p.dial,
		DialTLSContext: p.dial,
	}
	return p
}

// dial ignores the URL's address: a pool serves exactly one endpoint. It
// serves both of the transport's dial hooks and runs TLS itself, so that a
// peer which does not negotiate h2 is refused at the handshake. A cluster's
// connection cap (Config.Gate) is taken before dialing and returned when
// the connection closes.
func (p *H2Pool) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	g := p.cfg.Gate
	if g != nil && !g.AcquireConn() {
		return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, ErrConnOverflow)
	}
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		if g != nil {
			g.ReleaseConn()
		}
		return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, err)
	}
	if g != nil {
		// Gate the socket itself, under any TLS: the transport must see
		// the *tls.Conn to read the negotiated protocol.
		nc = &gatedConn{Conn: nc, gate: g}
	}
	if p.cfg.TLS == nil {
		if !p.cfg.ProbeHTTP2 {
			return nc, nil
		}
		deadline, _ := ctx.Deadline()
		pc, err := probeHTTP2(nc, deadline)
		if err != nil {
			nc.Close()
			if errors.Is(err, ErrHTTP1Only) {
				p.h1Until.Store(time.Now().Add(http1Memory).UnixNano())
			}
			return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, err)
		}
		return pc, nil
	}
	tc := p.cfg.TLS.Clone()
	tc.NextProtos = []string{"h2"}
	c := tls.Client(nc, tc)
	if err := c.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls handshake %s: %w", p.cfg.Addr, err)
	}
	if c.ConnectionState().NegotiatedProtocol != "h2" {
		c.Close()
		if p.cfg.ProbeHTTP2 {
			p.h1Until.Store(time.Now().Add(http1Memory).UnixNano())
			return nil, fmt.Errorf("dial %s: peer did not negotiate h2: %w", p.cfg.Addr, ErrHTTP1Only)
		}
		return nil, fmt.Errorf("dial %s: peer did not negotiate h2", p.cfg.Addr)
	}
	return c, nil
}

// gatedConn returns its gate's unit on its first Close.
type gatedConn struct {
	net.Conn
	gate ConnGate
	once sync.Once
}

func (c *gatedConn) Close() error {
	c.once.Do(c.gate.ReleaseConn)
	return c.Conn.Close()
}

// RoundTrip sends req on a multiplexed connection.
func (p *H2Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	if p.cfg.TLS != nil && req.URL.Scheme == "http" {
		u := *req.URL
		u.Scheme = "https"
		r2 := *req
		r2.URL = &u
		req = &r2
	}
	resp, err := p.tr.RoundTrip(req)
	if err != nil {
		return nil, fmt.Errorf("h2 %s: %w", p.cfg.Addr, err)
	}
	return resp, nil
}

// HTTP1Only reports that the endpoint recently answered HTTP/2 as an
// HTTP/1 server (only with Config.ProbeHTTP2).
func (p *H2Pool) HTTP1Only() bool { return time.Now().UnixNano() < p.h1Until.Load() }

// Close closes idle connections; streams in flight finish.
func (p *H2Pool) Close() { p.tr.CloseIdleConnections() }

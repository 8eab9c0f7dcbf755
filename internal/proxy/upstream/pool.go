// Package upstream owns connections from the proxy to one endpoint: dialing
// with a timeout, optional TLS, and a capped LIFO pool of idle keep-alive
// connections. LIFO keeps the hottest connections in use and lets the idle
// ones at the bottom age out.
package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
)

// Errors returned by Pool.Get.
var (
	ErrPoolClosed = errors.New("upstream: pool closed")
	ErrPoolFull   = errors.New("upstream: connection limit reached")
	// ErrConnOverflow is the cluster-wide connection cap (Config.Gate)
	// refusing a new connection.
	ErrConnOverflow = errors.New("upstream: cluster connection limit reached")
)

// ConnGate counts connections against a cap shared by several pools (a
// cluster's circuit breaker).
type ConnGate interface {
	AcquireConn() bool
	ReleaseConn()
}

// Config configures a Pool. Zero values are safe defaults.
type Config struct {
	Addr string // host:port
	// TLS, when set, wraps each dialed connection (mesh mTLS plugs in here).
	TLS *tls.Config
	// DialTimeout bounds connect plus TLS handshake. Zero means 2s.
	DialTimeout time.Duration
	// IdleTimeout drops idle connections older than this on Get. Zero means 60s.
	IdleTimeout time.Duration
	// MaxConns caps open connections (idle plus in use). Zero means 1024.
	MaxConns int
	// MaxIdle caps idle connections kept. Zero means 128.
	MaxIdle int
	// BufSize is the read and write buffer size per connection. Zero means 4 KiB.
	BufSize int
	// ProbeHTTP2 makes an H2Pool check that each new cleartext connection
	// really speaks HTTP/2 before a request is sent on it (see ErrHTTP1Only).
	// Default false: the endpoint is declared HTTP/2.
	ProbeHTTP2 bool
	// Gate, when set, must admit every new connection and hears of each
	// close. Nil admits all.
	Gate ConnGate
}

func (c *Config) defaults() {
	if c.DialTimeout <= 0 {
		c.DialTimeout = 2 * time.Second
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 1024
	}
	if c.MaxIdle <= 0 {
		c.MaxIdle = 128
	}
	if c.BufSize <= 0 {
		c.BufSize = 4 << 10
	}
}

// Conn is one upstream connection with its buffers.
type Conn struct {
	net.Conn
	R *bufio.Reader
	W *bufio.Writer
	// Reused is true when the connection came from the idle pool, so a
	// failure before the first response byte may be retried on a fresh one.
	Reused   bool
	idleFrom time.Time
}

// Pool is safe for concurrent use.
type Pool struct {
	cfg    Config
	mu     sync.Mutex
	idle   []*Conn // LIFO: the last element is the most recently used
	open   int
	closed bool
}

// NewPool returns an empty pool; connections are dialed on demand.
func NewPool(cfg Config) *Pool {
	cfg.defaults()
	return &Pool{cfg: cfg}
}

// Addr is the endpoint address this pool dials.
func (p *Pool) Addr() string { return p.cfg.Addr }

// Stats reports open and idle connection counts.
func (p *Pool) Stats() (open, idle int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.open, len(p.idle)
}

// Get returns an idle connection, or dials a new one within the caps.
func (p *Pool) Get(ctx context.Context) (*Conn, error) {
	now := time.Now()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	for n := len(p.idle); n > 0; n = len(p.idle) {
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		if now.Sub(c.idleFrom) < p.cfg.IdleTimeout {
			p.mu.Unlock()
			c.Reused = true
			return c, nil
		}
		p.open--
		p.mu.Unlock()
		p.release()
		c.Conn.Close()
		p.mu.Lock()
	}
	if p.open >= p.cfg.MaxConns {
		p.mu.Unlock()
		return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, ErrPoolFull)
	}
	if g := p.cfg.Gate; g != nil && !g.AcquireConn() {
		p.mu.Unlock()
		return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, ErrConnOverflow)
	}
	p.open++
	p.mu.Unlock()
	c, err := p.dial(ctx)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		p.release()
		return nil, err
	}
	return c, nil
}

// release returns a closed connection's unit to the gate.
func (p *Pool) release() {
	if p.cfg.Gate != nil {
		p.cfg.Gate.ReleaseConn()
	}
}

// Fresh dials a new connection regardless of idle ones, still within MaxConns.
// It serves the transparent retry after a reused connection failed.
func (p *Pool) Fresh(ctx context.Context) (*Conn, error) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil, ErrPoolClosed
	}
	if p.open >= p.cfg.MaxConns {
		p.mu.Unlock()
		return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, ErrPoolFull)
	}
	if g := p.cfg.Gate; g != nil && !g.AcquireConn() {
		p.mu.Unlock()
		return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, ErrConnOverflow)
	}
	p.open++
	p.mu.Unlock()
	c, err := p.dial(ctx)
	if err != nil {
		p.mu.Lock()
		p.open--
		p.mu.Unlock()
		p.release()
	}
	return c, err
}

func (p *Pool) dial(ctx context.Context) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, p.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", p.cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", p.cfg.Addr, err)
	}
	if p.cfg.TLS != nil {
		tc := tls.Client(nc, p.cfg.TLS)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("tls handshake %s: %w", p.cfg.Addr, err)
		}
		nc = tc
	}
	return &Conn{
		Conn: nc,
		R:    bufio.NewReaderSize(nc, p.cfg.BufSize),
		W:    bufio.NewWriterSize(nc, p.cfg.BufSize),
	}, nil
}

// Put returns a healthy connection whose last response was fully read.
func (p *Pool) Put(c *Conn) {
	c.idleFrom = time.Now()
	p.mu.Lock()
	if p.closed || len(p.idle) >= p.cfg.MaxIdle {
		p.open--
		p.mu.Unlock()
		p.release()
		c.Conn.Close()
		return
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
}

// Discard closes a connection that must not be reused and frees its slot.
func (p *Pool) Discard(c *Conn) {
	c.Conn.Close()
	p.mu.Lock()
	p.open--
	p.mu.Unlock()
	p.release()
}

// Close closes idle connections and makes Get fail. Connections in use are
// closed when they are Put or Discarded, so requests in flight finish.
func (p *Pool) Close() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.open -= len(idle)
	p.closed = true
	p.mu.Unlock()
	for _, c := range idle {
		c.Conn.Close()
		p.release()
	}
}

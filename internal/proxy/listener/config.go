// Package listener accepts downstream connections, detects their protocol,
// and hands each to the engine for it: HTTP/1.1, HTTP/2 or opaque TCP. It
// caps connections, and it drains on Shutdown.
package listener

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/telemetry"
)

// Handler serves one connection until it ends.
type Handler interface {
	ServeConn(ctx context.Context, c net.Conn)
}

// Shutdowner is a Handler that can drain its connections gracefully.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Protocol fixes or detects what a listener speaks.
type Protocol uint8

const (
	Auto  Protocol = iota // sniff each connection (default)
	HTTP1                 // HTTP/1.1 only
	HTTP2                 // HTTP/2 prior knowledge only
	TCP                   // opaque bytes
)

// Config configures a Listener. Zero values are safe defaults.
type Config struct {
	Name     string
	Addr     string // host:port; port 0 picks a free one
	Protocol Protocol
	HTTP1    Handler
	HTTP2    Handler
	// TCP receives connections that are neither HTTP/1 nor HTTP/2, and TLS
	// that this listener does not terminate. nil closes them.
	TCP Handler
	// TLS, when set, terminates TLS here: ALPN "h2" goes to HTTP2, the rest
	// to HTTP1. This is where inbound mTLS plugs in.
	TLS *tls.Config
	// MaxConns caps concurrent connections; accepting pauses at the cap.
	// Zero means 10000.
	MaxConns int
	// SniffTimeout bounds protocol detection. A client that sends nothing
	// (server-speaks-first protocols) goes to TCP after it. Zero means 200ms.
	SniffTimeout time.Duration
	// HandshakeTimeout bounds a TLS handshake. Zero means 5s.
	HandshakeTimeout time.Duration
	// FDs is this listener's share of the process-wide fd budget: at its
	// end accepting pauses, like at MaxConns. nil: no budget.
	FDs     *FDShare
	Metrics *telemetry.ProxyMetrics
	Logger  *slog.Logger
}

func (c *Config) defaults() {
	if c.MaxConns <= 0 {
		c.MaxConns = 10000
	}
	if c.SniffTimeout <= 0 {
		c.SniffTimeout = 200 * time.Millisecond
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

func (c *Config) validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("addr: must be host:port; got %q", c.Addr))
	}
	switch c.Protocol {
	case Auto:
		if c.HTTP1 == nil || c.HTTP2 == nil {
			errs = append(errs, errors.New("handlers: auto needs both http1 and http2 handlers"))
		}
	case HTTP1:
		if c.HTTP1 == nil {
			errs = append(errs, errors.New("http1: handler required"))
		}
	case HTTP2:
		if c.HTTP2 == nil {
			errs = append(errs, errors.New("http2: handler required"))
		}
	case TCP:
		if c.TCP == nil {
			errs = append(errs, errors.New("tcp: handler required"))
		}
	default:
		errs = append(errs, fmt.Errorf("protocol: unknown %d", c.Protocol))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("listener %s: %w", c.Name, err)
	}
	return nil
}

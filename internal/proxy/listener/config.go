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

// Protocol is what a listener's port is declared to speak. It decides what
// happens to bytes that are not what the port expects.
type Protocol uint8

const (
	// Auto sniffs each connection: HTTP/1.1, HTTP/2 prior knowledge, TLS
	// (terminated when TLS is set), and anything else to the TCP handler.
	// A silent client is an idle HTTP connection unless ServerFirst is set.
	Auto Protocol = iota
	// HTTP1 is a port declared HTTP/1.1. HTTP/2 prior knowledge is still
	// recognised; any other bytes go to the HTTP/1 handler, which refuses
	// them (400), so nothing there ever becomes a tunnel.
	HTTP1
	// HTTP2 is a port declared HTTP/2 (h2c, gRPC). HTTP/1.1 requests are
	// still recognised; any other bytes go to the HTTP/2 handler as an
	// invalid connection preface (a connection error).
	HTTP2
	// TCP forwards opaque bytes with no detection.
	TCP
)

// Config configures a Listener. Zero values are safe defaults.
type Config struct {
	Name     string
	Addr     string // host:port; port 0 picks a free one
	Protocol Protocol
	// ProtocolFor, when set, is asked at each accept for the protocol of
	// that connection and overrides Protocol: a port whose upstream's
	// protocol arrives later (over xDS) follows the config of the moment.
	ProtocolFor func() Protocol
	// ProtocolOf, when set, decides per connection from the connection
	// itself (its original destination, on a transparent-capture port),
	// before any byte is read, and overrides ProtocolFor and Protocol.
	// false closes the connection unserved.
	ProtocolOf func(net.Conn) (Protocol, bool)
	HTTP1      Handler
	HTTP2      Handler
	// TCP receives connections of a TCP port, and those of an Auto port
	// whose first bytes are neither HTTP nor TLS this listener terminates.
	// nil closes them.
	TCP Handler
	// TLS, when set, terminates TLS here: ALPN "h2" goes to HTTP2, the rest
	// to HTTP1. This is where inbound mTLS plugs in.
	TLS *tls.Config
	// MeshMode, when set with TLS, makes this a mesh mTLS port and is asked
	// at each accept for its mode (it may change with config): strict
	// refuses plaintext, permissive serves it too. What the TLS carries is
	// then dispatched by Protocol like plaintext, TCP included. nil: MeshOff.
	MeshMode func() MeshTLS
	// OnPlaintext, when set, is told of each plaintext connection to a
	// mesh mTLS port, and whether it was served (permissive) or refused.
	OnPlaintext func(remote net.Addr, served bool)
	// MaxConns caps concurrent connections; accepting pauses at the cap.
	// Zero means 10000.
	MaxConns int
	// IdleTimeout bounds the wait for a new connection's first byte, as it
	// bounds a keep-alive connection's wait for its next request; the
	// connection is closed at its end. Zero means 60s.
	IdleTimeout time.Duration
	// HeaderTimeout bounds detection once the first byte arrived: at its
	// end what arrived goes to the HTTP handler with a timeout error, and
	// is answered as any slow request head. Zero means 10s.
	HeaderTimeout time.Duration
	// ServerFirst, on an Auto port, lets a client that sends nothing for
	// SniffTimeout reach the TCP handler (server-speaks-first protocols:
	// MySQL, SMTP). Without it such a client is an idle connection and is
	// never tunnelled. Ignored on other protocols.
	ServerFirst bool
	// SniffTimeout is how long a client on a ServerFirst port may stay
	// silent before its connection goes to TCP. Zero means 200ms.
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
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 10 * time.Second
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
	if c.ProtocolFor != nil || c.ProtocolOf != nil {
		if c.HTTP1 == nil || c.HTTP2 == nil || c.TCP == nil {
			errs = append(errs, errors.New("handlers: a per-connection protocol needs http1, http2 and tcp handlers"))
		}
	} else {
		switch c.Protocol {
		case Auto, HTTP1, HTTP2:
			if c.HTTP1 == nil || c.HTTP2 == nil {
				errs = append(errs, errors.New("handlers: http ports need both http1 and http2 handlers"))
			}
		case TCP:
			if c.TCP == nil {
				errs = append(errs, errors.New("tcp: handler required"))
			}
		default:
			errs = append(errs, fmt.Errorf("protocol: unknown %d", c.Protocol))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("listener %s: %w", c.Name, err)
	}
	return nil
}

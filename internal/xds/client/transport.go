package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"golang.org/x/net/http2"
)

// Defaults for the transport fields of Config.
const (
	defaultConnectTimeout    = 10 * time.Second
	defaultKeepaliveInterval = 20 * time.Second
	defaultKeepaliveTimeout  = 10 * time.Second
	defaultMaxMessageBytes   = 64 << 20
)

// maxHeaderBytes caps the response headers and trailers. gRPC sends a
// handful of short ones; the longest is grpc-message, one error line.
const maxHeaderBytes = 64 << 10

// transport opens gRPC streams to control-plane replicas. It is a minimal
// gRPC client over x/net/http2, which the proxy links already: grpc-go
// and the protobuf runtime it pulls in cost the sidecar about 3 MB of idle
// RSS for the one stream it needs.
type transport struct {
	h2          *http2.Transport
	tls         *tls.Config // nil: h2c with prior knowledge
	connect     time.Duration
	sendTimeout time.Duration
	maxMessage  int
}

func newTransport(cfg Config) *transport {
	interval := orDefault(cfg.KeepaliveInterval, defaultKeepaliveInterval)
	timeout := orDefault(cfg.KeepaliveTimeout, defaultKeepaliveTimeout)
	maxMessage := cfg.MaxMessageBytes
	if maxMessage <= 0 {
		maxMessage = defaultMaxMessageBytes
	}
	return &transport{
		h2: &http2.Transport{
			AllowHTTP:          cfg.TLS == nil,
			DisableCompression: true,
			// Ping a connection that has gone quiet: a replica that
			// vanished without a FIN or RST would otherwise hold the
			// stream until TCP gives up, many minutes later.
			ReadIdleTimeout:   interval,
			PingTimeout:       timeout,
			WriteByteTimeout:  interval + timeout,
			MaxHeaderListSize: maxHeaderBytes,
		},
		tls:         cfg.TLS,
		connect:     orDefault(cfg.ConnectTimeout, defaultConnectTimeout),
		sendTimeout: interval + timeout,
		maxMessage:  maxMessage,
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// scheme is the request URL's scheme, which the server sees as :scheme.
func (t *transport) scheme() string {
	if t.tls != nil {
		return "https"
	}
	return "http"
}

// dial connects to addr and starts HTTP/2 on the connection. Each stream
// gets a connection of its own rather than one from a pool: ADS holds one
// stream at a time, and closing the connection with the stream leaves
// nothing behind when the client fails over or stops.
func (t *transport) dial(ctx context.Context, addr string) (*http2.ClientConn, error) {
	ctx, cancel := context.WithTimeout(ctx, t.connect)
	defer cancel()
	nc, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	if t.tls != nil {
		if nc, err = t.handshake(ctx, nc, addr); err != nil {
			return nil, err
		}
	}
	cc, err := t.h2.NewClientConn(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("http2 preface to %s: %w", addr, err)
	}
	return cc, nil
}

// handshake runs TLS on nc, offering only h2: gRPC needs HTTP/2, and a
// server that cannot speak it is better refused here than misread later.
func (t *transport) handshake(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	cfg := t.tls.Clone()
	cfg.NextProtos = []string{http2.NextProtoTLS}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	c := tls.Client(nc, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w", addr, err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != http2.NextProtoTLS {
		c.Close()
		return nil, fmt.Errorf("tls handshake with %s: %w (got %q)", addr, errNoH2, p)
	}
	return c, nil
}

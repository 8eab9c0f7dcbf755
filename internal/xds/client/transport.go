package client

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"time"
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

// alpnH2 is HTTP/2's ALPN protocol name on TLS.
const alpnH2 = "h2"

// transport opens gRPC streams to control-plane replicas. It is a minimal
// gRPC client over net/http's HTTP/2, which the proxy links already:
// grpc-go and the protobuf runtime it pulls in cost the sidecar about 3 MB
// of idle RSS for the one stream it needs.
type transport struct {
	h2          *http.Transport // only its NewClientConn is used: no pool
	tls         *tls.Config     // nil: h2c with prior knowledge
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
	t := &transport{
		tls:         cfg.TLS,
		connect:     orDefault(cfg.ConnectTimeout, defaultConnectTimeout),
		sendTimeout: interval + timeout,
		maxMessage:  maxMessage,
	}
	// HTTP/2 only, never HTTP/1.1: h2c with prior knowledge, or h2 on TLS.
	var protos http.Protocols
	if cfg.TLS == nil {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP2(true)
	}
	t.h2 = &http.Transport{
		Protocols:              &protos,
		DisableCompression:     true,
		MaxResponseHeaderBytes: maxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			// Ping a connection that has gone quiet: a replica that
			// vanished without a FIN or RST would otherwise hold the
			// stream until TCP gives up, many minutes later.
			SendPingTimeout:  interval,
			PingTimeout:      timeout,
			WriteByteTimeout: interval + timeout,
		},
		// Our own dialers: no proxy from the environment, and TLS that
		// offers only h2 and refuses a server that does not agree.
		DialContext:    t.dialTCP,
		DialTLSContext: t.dialTLS,
	}
	return t
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
func (t *transport) dial(ctx context.Context, addr string) (*http.ClientConn, error) {
	// The timeout bounds the dial, the TLS handshake and the preface; the
	// connection does not keep ctx.
	ctx, cancel := context.WithTimeout(ctx, t.connect)
	defer cancel()
	cc, err := t.h2.NewClientConn(ctx, t.scheme(), addr)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", addr, err)
	}
	return cc, nil
}

func (t *transport) dialTCP(ctx context.Context, network, addr string) (net.Conn, error) {
	return (&net.Dialer{}).DialContext(ctx, network, addr)
}

// dialTLS runs TLS on a new connection, offering only h2: gRPC needs
// HTTP/2, and a server that cannot speak it is better refused here than
// misread later.
func (t *transport) dialTLS(ctx context.Context, network, addr string) (net.Conn, error) {
	nc, err := t.dialTCP(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := t.tls.Clone()
	cfg.NextProtos = []string{alpnH2}
	if cfg.ServerName == "" {
		if host, _, err := net.SplitHostPort(addr); err == nil {
			cfg.ServerName = host
		}
	}
	c := tls.Client(nc, cfg)
	if err := c.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("tls handshake: %w", err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != alpnH2 {
		c.Close()
		return nil, fmt.Errorf("tls handshake: %w (got %q)", errNoH2, p)
	}
	return c, nil
}

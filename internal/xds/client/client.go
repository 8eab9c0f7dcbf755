package client

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"math/rand/v2"
	"strings"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// Update is one complete, consistent config, already in the proxy's own
// structs: every cluster with its ready endpoints, sorted by name, and the
// outbound routes. Its slices and maps are shared with later updates, so
// Apply must treat it as read-only.
type Update struct {
	// Version is the CDS version the update was built at.
	Version  string
	Routes   route.Config
	Clusters []cluster.Config
	// Authz is the authorization config of the sidecar's inbound listener
	// (Config.Inbound): nil when none is subscribed, none has arrived, or
	// the server has none.
	Authz *authz.Config
	// InboundMTLS is the mTLS mode of the sidecar's inbound listener
	// (MTLSStrict or MTLSPermissive, from its Service's spec.mtls.mode),
	// which wins over the sidecar's own inbound[].mtls; "" when the
	// listener sets none (or none has arrived).
	InboundMTLS string
}

// Config configures a Client.
type Config struct {
	// Node is this sidecar's node id, sent on every request.
	Node string
	// Region and Zone are where this sidecar runs, sent as the node's
	// locality (Envoy's Node.locality) so the control plane and operators
	// see it. Empty: unknown.
	Region, Zone string
	// Services, when set, declares the services this sidecar calls
	// ("catalog" or "catalog.namespace"), so the control plane sends only
	// those; empty asks for every service.
	Services []string
	// Inbound names the inbound listener to subscribe to over LDS
	// (translate.InboundListenerName of the sidecar's own Service), whose
	// RBAC filters become Update.Authz. "" subscribes to none.
	Inbound string
	// TrustBundle names the SDS secret holding the trust bundle to
	// subscribe to ("ROOTCA"); each version is handed to OnTrustBundle.
	// "" subscribes to none.
	TrustBundle string
	// OnTrustBundle receives each trust bundle pushed (the roots, in the
	// order sent: the signing root first). A non-nil error NACKs the push.
	OnTrustBundle func(roots []*x509.Certificate) error
	// Servers are the control-plane replicas' ADS addresses (host:port);
	// the client fails over between them in order.
	Servers []string
	// TLS, when set, secures each connection with TLS, offering only ALPN
	// "h2". Nil speaks HTTP/2 over plain TCP with prior knowledge (h2c),
	// which is what the control plane's gRPC server accepts today.
	TLS *tls.Config
	// Apply receives each complete update; a non-nil error NACKs it and the
	// sidecar keeps serving what it had.
	Apply func(Update) error
	// MinBackoff and MaxBackoff bound the jittered wait between streams.
	// Zero means 200ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// ConnectTimeout bounds the TCP connect and TLS handshake to one
	// replica. Zero means 10s.
	ConnectTimeout time.Duration
	// After KeepaliveInterval without a frame from the replica the client
	// pings it, and closes the connection when no answer comes within
	// KeepaliveTimeout; a send the replica does not take within their sum
	// fails the stream too. Zero means 20s and 10s: a control plane that
	// vanished without closing its connections is noticed within 30s.
	// The interval must not be shorter than the server's keepalive
	// enforcement (weft control allows pings every 10s; grpc-go's default
	// is 5 minutes), or the server closes the connection for pinging too
	// often.
	KeepaliveInterval, KeepaliveTimeout time.Duration
	// MaxMessageBytes caps one message from the control plane; a larger
	// one ends the stream. Zero means 64 MiB.
	MaxMessageBytes int
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Observer, when set, hears streams open and close and each NACK, for
	// the sidecar's xDS metrics.
	Observer Observer
}

// Observer hears the client's stream events. Calls come from the stream's
// goroutine and must not block.
type Observer interface {
	// StreamUp: a stream to server is open; StreamDown: it ended.
	StreamUp(server string)
	StreamDown(server string)
	// Nacked: a push of typeURL was rejected (malformed, or refused by Apply).
	Nacked(typeURL string)
}

// healthyStream is how long a stream must have lasted for the next
// reconnect to start again from MinBackoff.
const healthyStream = 10 * time.Second

var errConfig = errors.New("xds client: Node, Servers and Apply are required")

// Client runs ADS streams until its context ends.
type Client struct {
	cfg Config
	tr  *transport
	log *slog.Logger
	// services is the declared list as sent (comma-joined); Want
	// replaces it and signals resub to reopen the stream.
	services atomic.Pointer[string]
	resub    chan struct{}
}

// New validates cfg and fills in its defaults.
func New(cfg Config) (*Client, error) {
	if cfg.Node == "" || len(cfg.Servers) == 0 || cfg.Apply == nil {
		return nil, errConfig
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	cfg.MaxBackoff = max(cfg.MaxBackoff, cfg.MinBackoff)
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	c := &Client{cfg: cfg, tr: newTransport(cfg), resub: make(chan struct{}, 1),
		log: cfg.Logger.With("component", "xds-client", "node", cfg.Node)}
	joined := strings.Join(cfg.Services, ",")
	c.services.Store(&joined)
	return c, nil
}

// Run keeps a stream open to one replica after another until ctx ends.
// The last accepted config stays with the sidecar meanwhile: a stream that
// ends changes nothing it serves.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for i := 0; ; i++ {
		server := c.cfg.Servers[i%len(c.cfg.Servers)]
		start := time.Now()
		sctx, cancel := context.WithCancel(ctx)
		wasResub, stopWatch := c.watchResub(sctx, cancel)
		err := c.stream(sctx, server)
		stopWatch()
		cancel()
		if ctx.Err() != nil {
			return nil
		}
		if wasResub() {
			i-- // same replica, at once: only the declared services changed
			continue
		}
		if time.Since(start) > healthyStream {
			backoff = c.cfg.MinBackoff
		}
		// Full jitter spreads reconnecting sidecars, so a restarted control
		// plane is not met by all of them at once.
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		c.log.Warn("control plane stream ended; serving the last accepted config", "err", err, "server", server, "retry_in", wait)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

package lean

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"google.golang.org/grpc"

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
}

// Config configures a Client.
type Config struct {
	// Node is this sidecar's node id, sent on every request.
	Node string
	// Conns are the control-plane replicas; the client fails over between
	// them in order.
	Conns []grpc.ClientConnInterface
	// Apply receives each complete update; a non-nil error NACKs it and the
	// sidecar keeps serving what it had.
	Apply func(Update) error
	// MinBackoff and MaxBackoff bound the jittered wait between streams.
	// Zero means 200ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// healthyStream is how long a stream must have lasted for the next
// reconnect to start again from MinBackoff.
const healthyStream = 10 * time.Second

var errConfig = errors.New("xds lean client: Node, Conns and Apply are required")

// Client runs ADS streams until its context ends.
type Client struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg and fills in its defaults.
func New(cfg Config) (*Client, error) {
	if cfg.Node == "" || len(cfg.Conns) == 0 || cfg.Apply == nil {
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
	return &Client{cfg: cfg, log: cfg.Logger.With("component", "xds-client", "node", cfg.Node)}, nil
}

// Run keeps a stream open to one replica after another until ctx ends.
// The last accepted config stays with the sidecar meanwhile: a stream that
// ends changes nothing it serves.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for i := 0; ; i++ {
		conn := c.cfg.Conns[i%len(c.cfg.Conns)]
		start := time.Now()
		err := c.stream(ctx, conn)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > healthyStream {
			backoff = c.cfg.MinBackoff
		}
		// Full jitter spreads reconnecting sidecars, so a restarted control
		// plane is not met by all of them at once.
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		c.log.Warn("control plane stream ended; serving the last accepted config", "err", err, "replica", i%len(c.cfg.Conns), "retry_in", wait)
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

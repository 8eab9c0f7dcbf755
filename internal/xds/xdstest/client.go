// Package xdstest is the test-only oracle for the sidecar's xDS client: an
// ADS client over grpc-go with go-control-plane's full Envoy types, and
// ToProxy, their mapping onto the proxy's structs. Differential tests feed
// the same bytes through it and through internal/xds/client and require
// the same proxy config. Only tests import it (internal/archtest checks):
// its types would cost the sidecar its memory budget.
package xdstest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	statuspb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"

	"github.com/weft-mesh/weft/internal/xds/server"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// Update is one consistent config: every cluster, the endpoints of each,
// and the outbound routes.
type Update struct {
	Version   string
	Clusters  []*clusterv3.Cluster
	Endpoints map[string]*endpointv3.ClusterLoadAssignment
	Routes    *routev3.RouteConfiguration
}

// Config configures a Client.
type Config struct {
	Node string
	// Conns are the control-plane replicas; the client fails over between
	// them in order.
	Conns []grpc.ClientConnInterface
	// Apply receives each complete update; a non-nil error NACKs it and the
	// sidecar keeps serving what it had.
	Apply func(Update) error
	// Backoff bounds reconnect waits (jittered). Zero means 200ms..30s.
	MinBackoff, MaxBackoff time.Duration
	Logger                 *slog.Logger
}

// Client runs ADS streams until its context ends.
type Client struct {
	cfg Config
	log *slog.Logger
}

// New validates cfg.
func New(cfg Config) (*Client, error) {
	if cfg.Node == "" || len(cfg.Conns) == 0 || cfg.Apply == nil {
		return nil, errors.New("xds client: Node, Conns and Apply are required")
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = 200 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Client{cfg: cfg, log: cfg.Logger.With("component", "xds-client", "node", cfg.Node)}, nil
}

// Run keeps a stream open to one replica after another until ctx ends.
func (c *Client) Run(ctx context.Context) error {
	backoff := c.cfg.MinBackoff
	for i := 0; ; i++ {
		conn := c.cfg.Conns[i%len(c.cfg.Conns)]
		start := time.Now()
		err := c.stream(ctx, conn)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) > 10*time.Second {
			backoff = c.cfg.MinBackoff // the stream was healthy for a while
		}
		// Full jitter spreads reconnecting sidecars so a restarted control
		// plane is not met by all of them at once.
		wait := time.Duration(rand.Int64N(int64(backoff)) + 1)
		c.log.Warn("control plane stream ended; serving the last accepted config", "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, c.cfg.MaxBackoff)
	}
}

// state is what one stream has received so far.
type state struct {
	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	routes    *routev3.RouteConfiguration
	version   map[string]string // per type, last received
	nonce     map[string]string
	accepted  map[string]string // per type, last ACKed
}

func (c *Client) stream(ctx context.Context, conn grpc.ClientConnInterface) error {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s, err := discoveryv3.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(sctx)
	if err != nil {
		return fmt.Errorf("open ads stream: %w", err)
	}
	node := &corev3.Node{Id: c.cfg.Node}
	st := &state{endpoints: map[string]*endpointv3.ClusterLoadAssignment{}, version: map[string]string{}, nonce: map[string]string{}, accepted: map[string]string{}}
	send := func(typ string, names []string, errDetail error) error {
		req := &discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: names,
			VersionInfo: st.accepted[typ], ResponseNonce: st.nonce[typ]}
		if errDetail != nil {
			req.ErrorDetail = &statuspb.Status{Code: 3, Message: errDetail.Error()}
		}
		return s.Send(req)
	}
	if err := send(server.ClusterType, nil, nil); err != nil {
		return err
	}
	if err := send(server.RouteType, []string{translate.OutboundRoute}, nil); err != nil {
		return err
	}
	for {
		resp, err := s.Recv()
		if err != nil {
			return fmt.Errorf("ads recv: %w", err)
		}
		typ := resp.TypeUrl
		st.version[typ], st.nonce[typ] = resp.VersionInfo, resp.Nonce
		saved := st.save()
		if err := st.absorb(resp); err != nil {
			st.restore(saved)
			st.version[typ] = st.accepted[typ]
			c.log.Warn("rejecting malformed push", "type", typ, "err", err)
			if err := send(typ, st.names(typ), err); err != nil {
				return err
			}
			continue
		}
		if typ == server.ClusterType {
			// Ask for exactly the endpoints of the clusters we now have.
			if err := send(server.EndpointType, st.names(server.EndpointType), nil); err != nil {
				return err
			}
		}
		applyErr := c.applyIfComplete(st)
		if applyErr != nil {
			// A rejected push must not leak into the next update.
			st.restore(saved)
			st.version[typ] = st.accepted[typ]
			c.log.Warn("config rejected; keeping the running one", "type", typ, "version", resp.VersionInfo, "err", applyErr)
		} else {
			st.accepted[typ] = resp.VersionInfo
			// The applied state includes every type's latest content: ACK
			// the others too, clearing NACKs that a combination with a
			// stale type caused.
			for _, other := range []string{server.ClusterType, server.EndpointType, server.RouteType} {
				if other == typ || st.nonce[other] == "" || st.accepted[other] == st.version[other] {
					continue
				}
				st.accepted[other] = st.version[other]
				if err := send(other, st.names(other), nil); err != nil {
					return err
				}
			}
		}
		if err := send(typ, st.names(typ), applyErr); err != nil {
			return err
		}
	}
}

type saved struct {
	clusters  map[string]*clusterv3.Cluster
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	routes    *routev3.RouteConfiguration
}

func (st *state) save() saved {
	eps := make(map[string]*endpointv3.ClusterLoadAssignment, len(st.endpoints))
	for k, v := range st.endpoints {
		eps[k] = v
	}
	return saved{st.clusters, eps, st.routes}
}

func (st *state) restore(s saved) {
	st.clusters, st.endpoints, st.routes = s.clusters, s.endpoints, s.routes
}

// absorb decodes a response into the stream state, validating each
// resource with Envoy's own rules.
func (st *state) absorb(resp *discoveryv3.DiscoveryResponse) error {
	type validator interface{ ValidateAll() error }
	switch resp.TypeUrl {
	case server.ClusterType:
		cs := map[string]*clusterv3.Cluster{}
		for i, a := range resp.Resources {
			c := &clusterv3.Cluster{}
			if err := a.UnmarshalTo(c); err != nil {
				return fmt.Errorf("clusters[%d]: %w", i, err)
			}
			if err := c.ValidateAll(); err != nil {
				return fmt.Errorf("cluster %s: %w", c.Name, err)
			}
			cs[c.Name] = c
		}
		st.clusters = cs
	case server.EndpointType:
		for i, a := range resp.Resources {
			e := &endpointv3.ClusterLoadAssignment{}
			if err := a.UnmarshalTo(e); err != nil {
				return fmt.Errorf("endpoints[%d]: %w", i, err)
			}
			if err := e.ValidateAll(); err != nil {
				return fmt.Errorf("endpoints %s: %w", e.ClusterName, err)
			}
			st.endpoints[e.ClusterName] = e
		}
	case server.RouteType:
		for i, a := range resp.Resources {
			r := &routev3.RouteConfiguration{}
			if err := a.UnmarshalTo(r); err != nil {
				return fmt.Errorf("routes[%d]: %w", i, err)
			}
			var v validator = r
			if err := v.ValidateAll(); err != nil {
				return fmt.Errorf("routes %s: %w", r.Name, err)
			}
			if r.Name == translate.OutboundRoute {
				st.routes = r
			}
		}
	}
	return nil
}

// names is what to subscribe to for typ.
func (st *state) names(typ string) []string {
	switch typ {
	case server.EndpointType:
		out := make([]string, 0, len(st.clusters))
		for n := range st.clusters {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	case server.RouteType:
		return []string{translate.OutboundRoute}
	}
	return nil
}

// applyIfComplete hands the sidecar an update once clusters, the endpoints
// of every cluster, and routes have all arrived.
func (c *Client) applyIfComplete(st *state) error {
	if st.clusters == nil || st.routes == nil {
		return nil
	}
	u := Update{Version: st.version[server.ClusterType], Endpoints: map[string]*endpointv3.ClusterLoadAssignment{}, Routes: st.routes}
	for name, cl := range st.clusters {
		e, ok := st.endpoints[name]
		if !ok {
			return nil // EDS for it is on its way
		}
		u.Clusters = append(u.Clusters, cl)
		u.Endpoints[name] = e
	}
	sort.Slice(u.Clusters, func(a, b int) bool { return u.Clusters[a].Name < u.Clusters[b].Name })
	if err := c.cfg.Apply(u); err != nil {
		return fmt.Errorf("apply version %s: %w", u.Version, err)
	}
	return nil
}

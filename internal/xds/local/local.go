// Package local is a control plane of one: it serves a set of mesh
// resources over ADS on a loopback port, so a sidecar run with
// `weft proxy --resources DIR` and no `weft control` reads its services
// and routes the way every sidecar does: translated by xds/translate,
// marshalled by xds/server, decoded and validated by the sidecar's own
// xDS client. One path from a resource to a request, whoever serves it.
//
// Endpoints come from the Services' static spec.endpoints and spec.dns:
// there is no registry.
package local

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/xds/server"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// Server serves the last published resources over ADS.
type Server struct {
	log *slog.Logger
	xds *server.Server
	gs  *grpc.Server
	ln  net.Listener

	mu      sync.Mutex // serialises Publish
	seq     int
	current *server.Resources
}

// Listen binds addr ("127.0.0.1:0" for an ephemeral loopback port) and
// returns a server with nothing published yet. logger may be nil.
func Listen(addr string, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.Default()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("local control plane: %w", err)
	}
	s := &Server{log: logger.With("component", "local-control"), xds: server.New(logger), ln: ln}
	// The same limits as weft control's, so the sidecar's keepalive pings
	// are welcome here too.
	s.gs = grpc.NewServer(append(s.xds.ServerOptions(),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	s.xds.Register(s.gs)
	return s, nil
}

// Addr is the bound ADS address.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Publish translates rs (already decoded, defaulted and validated) and
// serves the result as the next version, which it returns. On error the
// served config stays as it was.
func (s *Server) Publish(rs []mesh.Resource) (string, error) {
	snap, err := translate.Translate(translate.Input{Resources: rs}, nil)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	version := strconv.Itoa(s.seq + 1)
	res, err := server.MarshalFrom(s.current, version, snap)
	if err != nil {
		return "", fmt.Errorf("publish: %w", err)
	}
	if s.current != nil && !changed(res, version) {
		// Equal content keeps every type's version, so nothing would be
		// pushed: the version proxies hold is still the one to wait for.
		return s.current.Version, nil
	}
	s.seq++
	s.current = res
	s.xds.Set(res)
	s.log.Info("resources published", "version", version, "resources", len(rs))
	return version, nil
}

// Version is the version served now; "" before the first Publish.
func (s *Server) Version() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.current == nil {
		return ""
	}
	return s.current.Version
}

// typeURLs are the xDS types a sidecar reads.
var typeURLs = []string{
	"type.googleapis.com/envoy.config.cluster.v3.Cluster",
	"type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment",
	"type.googleapis.com/envoy.config.listener.v3.Listener",
	"type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
}

// changed reports whether any type of res took version, i.e. differs from
// the config before it.
func changed(res *server.Resources, version string) bool {
	for _, u := range typeURLs {
		if res.TypeVersion(u) == version {
			return true
		}
	}
	return false
}

// Check translates rs without serving it, for `weft proxy --check`.
func Check(rs []mesh.Resource) error {
	if _, err := translate.Translate(translate.Input{Resources: rs}, nil); err != nil {
		return fmt.Errorf("check: %w", err)
	}
	return nil
}

// Applied waits until every connected proxy has accepted version, or
// returns the rejection of the first that refused it. It waits at most
// timeout, and at least for one proxy to connect.
func (s *Server) Applied(ctx context.Context, version string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		ps := s.xds.Proxies()
		done := len(ps) > 0
		for _, p := range ps {
			if p.Version != version {
				done = false
				continue
			}
			for typ, nack := range p.NACKs {
				// a rejection of an older push stays listed until the
				// type is accepted again: only this push's counts
				if strings.HasPrefix(nack, "version "+p.Pushed[typ]+":") {
					return fmt.Errorf("proxy %s refused %s %s", p.Node, typ, nack)
				}
			}
			done = done && p.Synced()
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("version %s not applied within %s", version, timeout)
		case <-tick.C:
		}
	}
}

// Run serves until ctx ends. ADS streams never end on their own, so it
// stops at once rather than gracefully.
func (s *Server) Run(ctx context.Context) error {
	errc := make(chan error, 1)
	go func() { errc <- s.gs.Serve(s.ln) }()
	select {
	case <-ctx.Done():
		s.gs.Stop()
		<-errc
		return nil
	case err := <-errc:
		if errors.Is(err, grpc.ErrServerStopped) {
			return nil
		}
		return fmt.Errorf("local control plane: %w", err)
	}
}

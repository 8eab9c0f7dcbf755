// Package server is Weft's ADS server: state-of-the-world xDS over one gRPC
// stream per sidecar, with ACK/NACK tracking. It is a small cache of our
// own rather than go-control-plane's snapshot cache, whose ADS mode ignores
// named requests that do not name every resource (DESIGN.md, known traps):
// here a named subscriber gets exactly what it names and a wildcard one
// everything, and each distinct config is marshalled once for all streams.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

// Type URLs served.
const (
	ClusterType  = "type.googleapis.com/envoy.config.cluster.v3.Cluster"
	EndpointType = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment"
	RouteType    = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration"
)

// wildcardTypes may be subscribed to with no names, meaning "all"; other
// types are always named (xDS's rule for CDS/LDS versus EDS/RDS).
var wildcardTypes = map[string]bool{ClusterType: true}

// Resources is one marshalled config: type URL -> name -> resource.
type Resources struct {
	Version string
	byType  map[string]map[string]*anypb.Any
}

// Marshal turns a translated snapshot into Resources once, so every stream
// that serves it sends the same bytes.
func Marshal(version string, s *translate.Snapshot) (*Resources, error) {
	r := &Resources{Version: version, byType: map[string]map[string]*anypb.Any{
		ClusterType: {}, EndpointType: {}, RouteType: {},
	}}
	add := func(typ, name string, m proto.Message) error {
		a, err := anypb.New(m)
		if err != nil {
			return fmt.Errorf("marshal %s %s: %w", typ, name, err)
		}
		r.byType[typ][name] = a
		return nil
	}
	for _, c := range s.Clusters {
		if err := add(ClusterType, c.Name, c); err != nil {
			return nil, err
		}
	}
	for _, e := range s.Endpoints {
		if err := add(EndpointType, e.ClusterName, e); err != nil {
			return nil, err
		}
	}
	for _, rc := range s.Routes {
		if err := add(RouteType, rc.Name, rc); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// pick returns the resources of typ a subscription asks for, sorted.
func (r *Resources) pick(typ string, names []string) []*anypb.Any {
	all := r.byType[typ]
	var keys []string
	if len(names) == 0 && wildcardTypes[typ] {
		for k := range all {
			keys = append(keys, k)
		}
	} else {
		for _, n := range names {
			if _, ok := all[n]; ok {
				keys = append(keys, n)
			}
		}
	}
	sort.Strings(keys)
	out := make([]*anypb.Any, 0, len(keys))
	for _, k := range keys {
		out = append(out, all[k])
	}
	return out
}

// ProxyStatus is one connected sidecar's sync state, for `weft get proxies`.
type ProxyStatus struct {
	Node      string
	Connected time.Time
	Version   string // the version pushed to it
	// Acked is the version it last accepted, and NACKs the error of its
	// last rejected push, per type (CDS, EDS, RDS).
	Acked map[string]string
	NACKs map[string]string
}

// Synced reports whether every type the proxy holds is at Version.
func (p ProxyStatus) Synced() bool {
	for _, v := range p.Acked {
		if v != p.Version {
			return false
		}
	}
	return len(p.NACKs) == 0 && len(p.Acked) > 0
}

// Server serves ADS.
type Server struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	log *slog.Logger

	mu      sync.Mutex
	current map[string]*Resources // by node id; "" is the default for all
	changed chan struct{}         // closed and replaced on every update
	status  map[*stream]*ProxyStatus
}

// New returns an empty server. logger may be nil.
func New(logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	return &Server{
		log:     logger.With("component", "xds"),
		current: map[string]*Resources{},
		changed: make(chan struct{}),
		status:  map[*stream]*ProxyStatus{},
	}
}

// Set publishes res to the given nodes ("" = every node without its own),
// waking their streams.
func (s *Server) Set(res *Resources, nodes ...string) {
	if len(nodes) == 0 {
		nodes = []string{""}
	}
	s.mu.Lock()
	for _, n := range nodes {
		s.current[n] = res
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

func (s *Server) resourcesFor(node string) (*Resources, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.current[node]
	if r == nil {
		r = s.current[""]
	}
	return r, s.changed
}

// Proxies lists connected sidecars, sorted by node.
func (s *Server) Proxies() []ProxyStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ProxyStatus, 0, len(s.status))
	for _, st := range s.status {
		cp := *st
		cp.Acked, cp.NACKs = map[string]string{}, map[string]string{}
		for k, v := range st.Acked {
			cp.Acked[k] = v
		}
		for k, v := range st.NACKs {
			cp.NACKs[k] = v
		}
		out = append(out, cp)
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Node < out[b].Node })
	return out
}

var errNoNode = errors.New("xds: the first request must carry node.id")

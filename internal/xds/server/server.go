// Package server is Weft's ADS server: state-of-the-world xDS over one gRPC
// stream per sidecar, with ACK/NACK tracking. It is a small cache of our
// own rather than go-control-plane's snapshot cache, whose ADS mode ignores
// named requests that do not name every resource (DESIGN.md, known traps):
// here a named subscriber gets exactly what it names and a wildcard one
// everything, and each distinct config is marshalled once for all streams.
//
// It is built to hold tens of thousands of proxies: a type's response is
// encoded once and every stream sends those same bytes (codec.go), a
// stream costs one goroutine (the one receiving), and a change is pushed
// by a few workers that never block on a slow proxy (push.go).
package server

import (
	"errors"
	"log/slog"
	"maps"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
)

// ProxyStatus is one connected sidecar's sync state, for `weft get proxies`.
type ProxyStatus struct {
	Node      string
	Connected time.Time
	Version   string // the config version last pushed to it
	// LastPush is when a response last went to it, LastAnswer when it
	// last ACKed or NACKed one (zero: not yet).
	LastPush, LastAnswer time.Time
	// Pushed is the version last sent, Acked the version last accepted,
	// and NACKs the error of the last rejected push, per type (CDS, EDS,
	// LDS, RDS). A type's version is the config version at which its
	// content last changed, so it may trail Version.
	Pushed map[string]string
	Acked  map[string]string
	NACKs  map[string]string
	// Missing lists, per type, the names the proxy subscribes to that its
	// config does not hold (at most MaxMissing each, sorted): a proxyless
	// gRPC client asking for an unknown service, or a route to a cluster
	// that was removed. Such a proxy has ACKed but cannot route them.
	Missing map[string][]string
}

// Synced reports whether the proxy accepted everything pushed to it. It
// may still lack resources it asked for: see Missing.
func (p ProxyStatus) Synced() bool {
	for k, v := range p.Pushed {
		if p.Acked[k] != v {
			return false
		}
	}
	return len(p.NACKs) == 0 && len(p.Acked) > 0
}

// Counters are running totals, for metrics and benchmarks.
type Counters struct {
	Streams   int64 // ADS streams open now
	Proxies   int64 // of those, the ones that have named their node
	Requests  int64 // DiscoveryRequests received
	NACKs     int64 // of those, rejections
	Responses int64 // DiscoveryResponses sent
}

type counters struct {
	streams, proxies, requests, nacks, responses atomic.Int64
}

// Server serves ADS.
type Server struct {
	discoveryv3.UnimplementedAggregatedDiscoveryServiceServer
	log *slog.Logger

	// current maps node id to its config; "" is the default for all. The
	// map is never modified, only replaced, so streams read it without a
	// lock however many wake at once.
	current atomic.Pointer[map[string]*Resources]

	hooks Hooks

	mu      sync.Mutex // guards streams and serialises replacing current
	streams map[*stream]struct{}
	count   counters

	// pushes holds the streams a config change woke, drained by up to
	// workers goroutines that exist only while it is not empty (push.go).
	qmu     sync.Mutex
	pushes  []*stream
	active  int
	workers int
}

// New returns an empty server. logger may be nil.
func New(logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.Default()
	}
	s := &Server{log: logger.With("component", "xds"), streams: map[*stream]struct{}{}, workers: runtime.GOMAXPROCS(0)}
	s.current.Store(&map[string]*Resources{})
	return s
}

// Register serves ADS on g, so callers need not import go-control-plane
// (DESIGN.md rule 4: it stays under xds/). Create g with ServerOptions.
func (s *Server) Register(g grpc.ServiceRegistrar) {
	discoveryv3.RegisterAggregatedDiscoveryServiceServer(g, s)
}

// Counters returns the running totals.
func (s *Server) Counters() Counters {
	return Counters{
		Streams: s.count.streams.Load(), Proxies: s.count.proxies.Load(), Requests: s.count.requests.Load(),
		NACKs: s.count.nacks.Load(), Responses: s.count.responses.Load(),
	}
}

// Set publishes res to the given nodes ("" = every node without its own),
// waking the streams whose config it changes.
func (s *Server) Set(res *Resources, nodes ...string) {
	if len(nodes) == 0 {
		nodes = []string{""}
	}
	per := make(map[string]*Resources, len(nodes))
	for _, n := range nodes {
		per[n] = res
	}
	s.SetNodes(per)
}

// SetNodes publishes a config per node ("" = every node without its own)
// as one update: each affected stream is woken once, however many nodes
// change, which is what per-sidecar configs need.
func (s *Server) SetNodes(per map[string]*Resources) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := *s.current.Load()
	next := maps.Clone(old)
	maps.Copy(next, per)
	s.current.Store(&next)
	var woken []*stream
	for st := range s.streams {
		if lookup(next, st.node) != lookup(old, st.node) {
			woken = append(woken, st)
		}
	}
	s.enqueue(woken)
}

func lookup(m map[string]*Resources, node string) *Resources {
	if r := m[node]; r != nil {
		return r
	}
	return m[""]
}

func (s *Server) resourcesFor(node string) *Resources {
	return lookup(*s.current.Load(), node)
}

// Proxies lists connected sidecars, sorted by node.
func (s *Server) Proxies() []ProxyStatus {
	s.mu.Lock()
	sts := make([]*stream, 0, len(s.streams))
	for st := range s.streams {
		sts = append(sts, st)
	}
	s.mu.Unlock()
	out := make([]ProxyStatus, 0, len(sts))
	for _, st := range sts {
		out = append(out, st.proxyStatus())
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Node < out[b].Node })
	return out
}

var errNoNode = errors.New("xds: the first request must carry node.id")

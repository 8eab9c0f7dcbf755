package controlplane

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/registry"
)

// DefaultStreamGrace is how long a sidecar may be without an xDS stream
// before its instances leave rotation: longer than a reconnect to another
// replica takes (the sidecar's first retry waits under 100ms), far shorter
// than a lease.
const DefaultStreamGrace = 2 * time.Second

// livenessOpTimeout bounds each store call liveness makes.
const livenessOpTimeout = 5 * time.Second

// replicaLeaseTTL is how long a crashed replica's stream claims outlive
// it; the lease is renewed every third of it.
const replicaLeaseTTL = 10 * time.Second

// liveness takes an instance out of rotation when its sidecar's xDS stream
// drops and the sidecar neither reconnects nor heartbeats within the
// grace, long before its lease would expire (a killed sidecar cannot
// deregister). It marks the instance Disconnected rather than deleting it:
// a sidecar that comes back, to this replica or another, or heartbeats
// through any, is restored without registering anew.
//
// With several replicas, the one that held the node's stream last decides:
// each claims the streams it accepts in the shared store, and one whose
// node moved elsewhere within the grace leaves the decision to the other.
type liveness struct {
	reg     *registry.Registry
	grace   time.Duration
	replica string // this replica's id in the shared store; "": the only replica, no claims
	log     *slog.Logger
	now     func() time.Time

	leaseTTL time.Duration // replicaLeaseTTL unless a test shortens it
	lease    int64         // holds this replica's claims; 0: not granted yet (run's goroutine only)
	renewed  time.Time     // when lease was last granted or renewed

	mu    sync.Mutex
	nodes map[string]*nodeStreams
	down  map[string]bool // nodes with Disconnected instances, as last observed
	wake  chan struct{}
}

// nodeStreams is one node's streams on this replica.
type nodeStreams struct {
	open    int       // a reconnect may overlap the old stream
	lost    time.Time // when the last one closed (open == 0)
	claimed bool      // this replica's claim is stored
}

func newLiveness(reg *registry.Registry, grace time.Duration, replica string, log *slog.Logger) *liveness {
	return &liveness{reg: reg, grace: grace, replica: replica, log: log.With("component", "liveness"), now: time.Now, leaseTTL: replicaLeaseTTL,
		nodes: map[string]*nodeStreams{}, down: map[string]bool{}, wake: make(chan struct{}, 1)}
}

// replicaID names this replica in the shared store; alone on an embedded
// store it needs no name.
func replicaID(c *Config) string {
	if len(c.EtcdEndpoints) == 0 {
		return ""
	}
	var b [6]byte
	rand.Read(b[:])
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func (l *liveness) poke() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// connected is called for every stream that names its node.
func (l *liveness) connected(node string) {
	l.mu.Lock()
	n := l.nodes[node]
	if n == nil {
		n = &nodeStreams{}
		l.nodes[node] = n
	}
	n.open++
	if n.open == 1 {
		n.claimed = false // another replica may have claimed it meanwhile
	}
	l.mu.Unlock()
	l.poke()
}

// disconnected is called once per connected.
func (l *liveness) disconnected(node string) {
	l.mu.Lock()
	if n := l.nodes[node]; n != nil {
		if n.open--; n.open <= 0 {
			n.open, n.lost = 0, l.now()
		}
	}
	l.mu.Unlock()
	l.poke()
}

// observe takes the instances the syncer read, to find Disconnected ones
// whose sidecar is connected here again.
func (l *liveness) observe(ins []registry.Instance) {
	down := map[string]bool{}
	for _, in := range ins {
		if in.Disconnected && in.Node != "" {
			down[in.Node] = true
		}
	}
	l.mu.Lock()
	l.down = down
	l.mu.Unlock()
	if len(down) > 0 {
		l.poke()
	}
}

// servable is what the translator sees: a Disconnected instance is not
// ready, whatever its app probe said.
func servable(ins []registry.Instance) []registry.Instance {
	var out []registry.Instance
	for i, in := range ins {
		if in.Disconnected && in.Ready {
			if out == nil {
				out = append([]registry.Instance(nil), ins...)
			}
			out[i].Ready = false
		}
	}
	if out == nil {
		return ins
	}
	return out
}

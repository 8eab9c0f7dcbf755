// Package proxy forwards requests: route -> cluster -> endpoint -> upstream
// connection. It takes plain Go structs only; the sidecar package translates
// static files or xDS into them.
package proxy

import (
	"sync/atomic"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// State is one immutable snapshot of routing and upstream state. Requests load
// it once at their start and finish on it even if a newer one is swapped in.
type State struct {
	Version  string
	Routes   *route.Table
	Clusters *cluster.Set
	// Authz is the inbound authorization table, evaluated on every request
	// before routing; nil (outbound, or no policy) allows every request.
	Authz *authz.Table
}

// Runtime holds the current State. The zero value holds none.
type Runtime struct {
	cur atomic.Pointer[State]
}

// Load returns the current state, or nil before the first Store.
func (r *Runtime) Load() *State { return r.cur.Load() }

// Store swaps in s and returns the previous state.
func (r *Runtime) Store(s *State) *State { return r.cur.Swap(s) }

package server

import (
	"context"
	"maps"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
)

// ServicesKey is the node metadata key under which a sidecar declares the
// services it calls (a comma-separated string), so the control plane can
// send it those alone: its memory then follows what it uses, not the size
// of the mesh.
const ServicesKey = "weft.dev/services"

// Hooks let the control plane scope configs per proxy. Both run on the
// stream's goroutine: OnConnect before the node's first response, so any
// per-node config it publishes is what the proxy receives first.
type Hooks struct {
	// Authorize, when set, decides whether the stream whose context is
	// ctx (its gRPC peer holds the verified client certificate) may
	// speak for node; an error ends the stream with PermissionDenied
	// before anything is sent.
	Authorize func(ctx context.Context, node string) error
	// OnConnect receives a new stream's node and the services it declared
	// (nil: it wants every service).
	OnConnect func(node string, services []string)
	// OnDisconnect is called once per OnConnect.
	OnDisconnect func(node string)
	// OnListeners receives the listener names (other than the sidecars'
	// outbound one) a stream of node now subscribes to, sorted, each time
	// they change: a proxyless gRPC client's declaration (proxyless.go).
	// It runs before the request that named them is answered. nil names
	// mean the stream dropped them all.
	OnListeners func(node string, names []string)
}

// SetHooks installs h; call it before serving.
func (s *Server) SetHooks(h Hooks) { s.hooks = h }

// declaredServices reads ServicesKey from a node's metadata.
func declaredServices(n *corev3.Node) []string {
	v := n.GetMetadata().GetFields()[ServicesKey].GetStringValue()
	if v == "" {
		return nil
	}
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" && len(out) < maxNames {
			out = append(out, s)
		}
	}
	return out
}

// DropNodes removes per-node configs, so those nodes fall back to the
// default ("" entry) or, once disconnected, cost nothing.
func (s *Server) DropNodes(nodes ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := maps.Clone(*s.current.Load())
	for _, n := range nodes {
		delete(next, n)
	}
	s.current.Store(&next)
}

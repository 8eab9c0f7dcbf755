package server

import (
	"slices"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

// Proxyless gRPC clients (grpc-go's xds resolver and its kin) declare
// nothing in their node metadata: what they want is the Listeners they
// name, one per xds:/// target, and then whatever those lead to, all by
// name. So the listener names are their declaration: the server reports
// them (Hooks.OnListeners) before answering, and the control plane
// publishes the node a config built for exactly those names. Weft's
// sidecars name no listener but the outbound one and their inbound one.
//
// A gRPC library resubscribes to every type at once when a stream
// restarts, in no fixed order. Until its Listener request arrives the
// server does not know what to build, and answering a CDS request from
// the sidecars' config would tell it that its clusters are gone (a state
// of the world without a resource deletes it). So a gRPC library's other
// types wait for its listener names.

// proxylessState is a stream's proxyless side.
type proxylessState struct {
	// listeners are the listener names last reported; handler only.
	listeners []string
	// decided records that the first request was classified; handler only.
	decided bool
	// hold keeps every type but LDS unanswered; guarded by stream.mu.
	hold bool
}

// grpcUserAgent starts the node.user_agent_name of gRPC's own xDS clients
// ("gRPC Go", "gRPC Java", "gRPC C-core", ...).
const grpcUserAgent = "gRPC "

// observeListeners runs on the handler goroutine for every request,
// before the node's config is read: a gRPC library's first request sets
// the hold, and a change of the listener names a client subscribes to is
// reported to the control plane, which publishes the node its config,
// and every type is then sent again from that config.
func (st *stream) observeListeners(t int, r *discoveryv3.DiscoveryRequest) {
	px := &st.px
	if !px.decided {
		px.decided = true
		if isGRPCLibrary(r.GetNode()) {
			st.mu.Lock()
			px.hold = true
			st.mu.Unlock()
		}
	}
	if t != lds {
		return
	}
	names := apiListenerNames(r.ResourceNames)
	moved := false
	if !slices.Equal(names, px.listeners) && (len(names) > 0 || len(px.listeners) > 0) {
		px.listeners = names
		if h := st.srv.hooks.OnListeners; h != nil {
			before := st.srv.resourcesFor(st.node)
			h(st.node, names)
			moved = st.srv.resourcesFor(st.node) != before
		}
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	if px.hold || moved {
		// The node may have moved to another config whose versions happen
		// to equal those already sent: resend every type from the new one.
		px.hold = false
		for i := range st.subs {
			st.subs[i].sent = ""
		}
		st.pending = true
	}
}

// holding reports whether type t waits for the listener names; st.mu is
// held.
func (st *stream) holding(t int) bool { return st.px.hold && t != lds }

func isGRPCLibrary(n *corev3.Node) bool {
	return strings.HasPrefix(n.GetUserAgentName(), grpcUserAgent)
}

// apiListenerNames are the names a client subscribes to other than the
// sidecars' outbound and inbound listeners, sorted and without repeats.
func apiListenerNames(names []string) []string {
	var out []string
	for _, n := range names {
		if n != translate.OutboundListener && n != "" && !strings.HasPrefix(n, translate.InboundListenerPrefix) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

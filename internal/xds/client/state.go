package client

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// state is what one stream has received and decoded so far.
type state struct {
	config
	version  map[string]string // per type URL, last received
	nonce    map[string]string
	accepted map[string]string // per type URL, last ACKed
	// inbound names the inbound listener subscribed to ("" none).
	inbound string
	// bundleName is the SDS secret subscribed to ("" none), and bundle
	// the last one received: nil until it arrives, kept when a push no
	// longer holds it (a sidecar never drops its roots for want of a push).
	bundleName string
	bundle     *trustBundle
}

// config is the decoded resources: the part a rejected push rolls back.
type config struct {
	clusters  map[string]cluster.Config // without endpoints
	endpoints map[string][]cluster.EndpointConfig
	routes    *route.Config
	// authz is the inbound listener's authorization config; nil until it
	// arrives, and when the server no longer has it.
	authz *authz.Config
	// inboundMTLS is the inbound listener's mTLS mode, "" for none.
	inboundMTLS string
}

func newState() *state {
	return &state{
		config:  config{endpoints: map[string][]cluster.EndpointConfig{}},
		version: map[string]string{}, nonce: map[string]string{}, accepted: map[string]string{},
	}
}

// save copies what absorb changes in place (the endpoints map); clusters
// and routes are replaced whole, so keeping their pointers is enough.
func (st *state) save() config {
	eps := make(map[string][]cluster.EndpointConfig, len(st.endpoints))
	for k, v := range st.endpoints {
		eps[k] = v
	}
	return config{st.clusters, eps, st.routes, st.authz, st.inboundMTLS}
}

func (st *state) restore(c config) { st.config = c }

// known reports whether typ is a type the sidecar decodes: LDS only when
// it subscribed to its inbound listener. Others are ACKed and ignored.
func (st *state) known(typ string) bool {
	return typ == clusterType || typ == endpointType || typ == routeType || typ == listenerType && st.inbound != "" ||
		typ == secretType && st.bundleName != ""
}

// absorb decodes a response into the state. Clusters are state of the
// world (the set replaces the last one); endpoints and routes are keyed by
// name and kept across responses, as client.Client keeps them.
func (st *state) absorb(r *response) error {
	if r.err != nil {
		return r.err
	}
	switch r.typeURL {
	case clusterType:
		cs := make(map[string]cluster.Config, len(r.resources))
		for i := range r.resources {
			cc, err := decodeAny(r.resources[i], clusterMsgName, "clusters", i, decodeCluster)
			if err != nil {
				return err
			}
			cs[cc.Name] = cc
		}
		st.clusters = cs
	case endpointType:
		for i := range r.resources {
			e, err := decodeAny(r.resources[i], endpointsMsgName, "endpoints", i, decodeCLA)
			if err != nil {
				return err
			}
			st.endpoints[e.cluster] = e.endpoints
		}
	case routeType:
		for i := range r.resources {
			rc, err := decodeAny(r.resources[i], routesMsgName, "routes", i, decodeRouteConfig)
			if err != nil {
				return err
			}
			if rc.name == outboundRoute {
				st.routes = &rc.config
			}
		}
	case listenerType:
		// State of the world: a response without the inbound listener
		// means the server has none (its Service is gone).
		var found *authz.Config
		mode := ""
		for i := range r.resources {
			if !anyIs(r.resources[i], listenerMsgName) {
				return fmt.Errorf("listeners[%d]: %w: type %q, want %s", i, ErrInvalid, r.resources[i].GetTypeUrl(), listenerMsgName)
			}
			name, in, err := decodeListener(r.resources[i].GetValue())
			if err != nil {
				return fmt.Errorf("listeners[%d]: %w", i, err)
			}
			if name == st.inbound {
				found, mode = &in.authz, in.mtls
			}
		}
		st.authz, st.inboundMTLS = found, mode
	case secretType:
		for i := range r.resources {
			tb, err := decodeAny(r.resources[i], secretMsgName, "secrets", i, decodeSecret)
			if err != nil {
				return err
			}
			if tb.name == st.bundleName {
				st.bundle = &tb
			}
		}
	}
	return nil
}

// decodeAny checks that a holds Envoy's msgName, as anypb.UnmarshalTo
// does, and decodes its bytes into envoypb's type of the same fields.
func decodeAny[T any](a *anypb.Any, msgName, what string, i int, decode func([]byte) (T, error)) (T, error) {
	if !anyIs(a, msgName) {
		var zero T
		return zero, fmt.Errorf("%s[%d]: %w: type %q, want %s", what, i, ErrInvalid, a.GetTypeUrl(), msgName)
	}
	return decode(a.GetValue())
}

type namedEndpoints struct {
	cluster   string
	endpoints []cluster.EndpointConfig
}

func decodeCLA(b []byte) (namedEndpoints, error) {
	name, eps, err := decodeEndpoints(b)
	return namedEndpoints{name, eps}, err
}

type namedRoutes struct {
	name   string
	config route.Config
}

func decodeRouteConfig(b []byte) (namedRoutes, error) {
	name, rc, err := decodeRoutes(b)
	return namedRoutes{name, rc}, err
}

// names is what to subscribe to for typ: no names (wildcard) for clusters,
// the clusters' names for their endpoints, the outbound routes by name.
func (st *state) names(typ string) []string {
	switch typ {
	case endpointType:
		out := make([]string, 0, len(st.clusters))
		for n := range st.clusters {
			out = append(out, n)
		}
		sort.Strings(out)
		return out
	case routeType:
		return []string{outboundRoute}
	case listenerType:
		return []string{st.inbound}
	case secretType:
		return []string{st.bundleName}
	}
	return nil
}

// update is the complete config, or false while clusters, the endpoints of
// every cluster, or the routes have yet to arrive.
func (st *state) update() (Update, bool) {
	if st.clusters == nil || st.routes == nil {
		return Update{}, false
	}
	// The server versions each type at the config revision that last
	// changed it, so an endpoint or route change moves EDS or RDS alone:
	// the config this update holds is the newest of the three.
	u := Update{Version: newestVersion(st.version[clusterType], st.version[endpointType], st.version[routeType], st.version[listenerType]),
		Routes: *st.routes, Authz: st.authz, InboundMTLS: st.inboundMTLS}
	if len(st.clusters) > 0 {
		u.Clusters = make([]cluster.Config, 0, len(st.clusters))
	}
	for name, cc := range st.clusters {
		eps, ok := st.endpoints[name]
		if !ok {
			return Update{}, false // EDS for it is on its way
		}
		cc.Endpoints = eps
		u.Clusters = append(u.Clusters, cc)
	}
	sort.Slice(u.Clusters, func(a, b int) bool { return u.Clusters[a].Name < u.Clusters[b].Name })
	return u, true
}

// newestVersion returns the greatest of xDS version strings of the form
// "N.M" (config revision, push), compared field by field as numbers so that
// "6.10" is newer than "6.9". Unparsable versions compare as oldest.
func newestVersion(vs ...string) string {
	best := ""
	for _, v := range vs {
		if versionLess(best, v) {
			best = v
		}
	}
	return best
}

func versionLess(a, b string) bool {
	if a == "" || b == "" {
		return a == "" && b != ""
	}
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.ParseUint(as[i], 10, 64)
		y, erry := strconv.ParseUint(bs[i], 10, 64)
		if errx != nil || erry != nil {
			return erry == nil && errx != nil
		}
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

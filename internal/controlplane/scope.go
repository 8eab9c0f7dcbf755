package controlplane

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/weft-mesh/weft/internal/xds/server"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// scope is the config of every sidecar that declared the same services:
// translated and marshalled once for all of them, so a sidecar's config
// (and its memory) follows what it calls, not the size of the mesh.
type scope struct {
	// translate builds its snapshot: the sidecar translation filtered to
	// the declared services, or a proxyless client's (proxyless.go).
	translate func(translate.Input) (*translate.Snapshot, error)
	res       *server.Resources
	nodes     map[string]int // streams per node (a reconnect may overlap)
}

// wantsOf turns declared services ("catalog" or "catalog.shop") into
// translate's filter and a canonical key.
func wantsOf(services []string) (string, func(namespace, service string) bool) {
	set := map[string]bool{}
	for _, s := range services {
		name, ns, ok := strings.Cut(s, ".")
		if !ok {
			ns = "default"
		}
		set[ns+"/"+name] = true
	}
	keys := make([]string, 0, len(set))
	for k := range set {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ","), func(namespace, service string) bool { return set[namespace+"/"+service] }
}

func build(prev *server.Resources, in translate.Input, version string, tr func(translate.Input) (*translate.Snapshot, error)) (*server.Resources, error) {
	snap, err := tr(in)
	if err != nil {
		return nil, fmt.Errorf("translate: %w", err)
	}
	res, err := server.MarshalFrom(prev, version, snap)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return res, nil
}

// publish builds the default config and every scope's, and hands them to
// the server as one update, so each stream wakes once.
func (s *syncer) publish(in translate.Input, version string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	all, err := build(s.all, in, version, sidecarScope(nil))
	if err != nil {
		return err
	}
	per := map[string]*server.Resources{"": all}
	built := map[*scope]*server.Resources{}
	for _, sc := range s.scopes {
		res, err := build(sc.res, in, version, sc.translate)
		if err != nil {
			return err
		}
		built[sc] = res
		for node := range sc.nodes {
			per[node] = res
		}
	}
	s.xds.SetNodes(per)
	if !bytes.Equal(in.TrustBundle, s.bundle) {
		s.bundle, s.bundleVer = in.TrustBundle, version
	}
	s.all, s.input, s.ver = all, in, version
	for sc, res := range built {
		sc.res = res
	}
	return nil
}

func (s *syncer) scopeCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.scopes)
}

// connected is the server's OnConnect hook: a sidecar that declared its
// services gets its scope's config before its first response.
func (s *syncer) connected(node string, services []string) {
	if s.live != nil {
		s.live.connected(node)
	}
	if len(services) == 0 {
		return
	}
	key, wants := wantsOf(services)
	s.join(node, key, sidecarScope(wants))
}

// sidecarScope is the sidecar translation for the services wants accepts
// (nil: all).
func sidecarScope(wants func(namespace, service string) bool) func(translate.Input) (*translate.Snapshot, error) {
	return func(in translate.Input) (*translate.Snapshot, error) { return translate.Translate(in, wants) }
}

// join moves node to the scope key, creating it with tr if it is new, and
// publishes its config to the node.
func (s *syncer) join(node, key string, tr func(translate.Input) (*translate.Snapshot, error)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.nodeScope[node]; ok && old != key {
		s.release(node, old)
	}
	sc := s.scopes[key]
	if sc == nil {
		sc = &scope{translate: tr, nodes: map[string]int{}}
		s.scopes[key] = sc
		if s.all != nil {
			res, err := build(nil, s.input, s.ver, tr)
			if err != nil {
				s.log.Error("scoped config failed; the sidecar gets every service", "node", node, "err", err)
			} else {
				sc.res = res
			}
		}
	}
	sc.nodes[node]++
	s.nodeScope[node] = key
	if sc.res != nil {
		s.xds.SetNodes(map[string]*server.Resources{node: sc.res})
	}
}

// disconnected is the server's OnDisconnect hook.
func (s *syncer) disconnected(node string) {
	if s.live != nil {
		s.live.disconnected(node)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if key, ok := s.nodeScope[node]; ok {
		s.release(node, key)
	}
}

// release drops one stream of node from scope key; s.mu is held.
func (s *syncer) release(node, key string) {
	sc := s.scopes[key]
	if sc == nil {
		return
	}
	sc.nodes[node]--
	if sc.nodes[node] > 0 {
		return
	}
	delete(sc.nodes, node)
	delete(s.nodeScope, node)
	s.xds.DropNodes(node)
	if len(sc.nodes) == 0 {
		delete(s.scopes, key)
	}
}

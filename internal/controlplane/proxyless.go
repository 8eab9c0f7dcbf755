package controlplane

import (
	"strings"

	"github.com/weft-mesh/weft/internal/xds/translate"
)

// proxylessKey prefixes the scope keys of proxyless gRPC clients, whose
// declaration is the listener names they subscribe to, so they never
// share a scope with sidecars declaring services.
const proxylessKey = "listeners:"

// listeners is the server's OnListeners hook: a proxyless gRPC client
// gets a config built for exactly the listener names (xds:/// targets) it
// asked for, one per distinct set however many clients share it. names
// arrive sorted and without repeats.
func (s *syncer) listeners(node string, names []string) {
	if len(names) == 0 {
		s.mu.Lock()
		defer s.mu.Unlock()
		if key, ok := s.nodeScope[node]; ok && strings.HasPrefix(key, proxylessKey) {
			s.release(node, key)
		}
		return
	}
	names = names[:min(len(names), translate.MaxProxylessListeners)]
	s.join(node, proxylessKey+strings.Join(names, ","), func(in translate.Input) (*translate.Snapshot, error) {
		return translate.Proxyless(in, names)
	})
}

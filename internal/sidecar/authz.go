package sidecar

import (
	"strings"

	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/authz"
)

// inboundListenerPrefix and the SERVICE.NAMESPACE that follows it are
// translate.InboundListenerName's, spelled out here because the data
// plane does not link the translator.
const inboundListenerPrefix = "inbound/"

// inboundListener names the inbound listener whose authorization policies
// this sidecar enforces: its own Service's (service, or register.service),
// "" when it fronts none or has no inbound listener.
func inboundListener(cfg *Config) string {
	svc := cfg.Service
	if svc == "" && cfg.Register != nil {
		svc = cfg.Register.Service
	}
	if svc == "" || len(cfg.Inbound) == 0 {
		return ""
	}
	if !strings.Contains(svc, ".") {
		svc += ".default"
	}
	return inboundListenerPrefix + svc
}

// setAuthz swaps t (nil: allow all) into every inbound state. States are
// immutable: each gets a copy that differs only in its table, so a
// request in flight finishes on the decision it started with. The
// caller holds reloadMu.
func (s *Sidecar) setAuthz(t *authz.Table) {
	if s.authz.Swap(t) == t {
		return
	}
	for _, rts := range s.inbound {
		for _, rt := range []*proxy.Runtime{&rts.h1, &rts.h2} {
			if cur := rt.Load(); cur != nil {
				next := *cur
				next.Authz = t
				rt.Store(&next)
			}
		}
	}
}

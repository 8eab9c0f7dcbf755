package client

import (
	"fmt"
	"sort"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// Envoy's names of the messages of an inbound listener.
const (
	listenerMsgName = "envoy.config.listener.v3.Listener"
	hcmMsgName      = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
	rbacMsgName     = "envoy.extensions.filters.http.rbac.v3.RBAC"
	routerMsgName   = "envoy.extensions.filters.http.router.v3.Router"
	listenerType    = "type.googleapis.com/" + listenerMsgName
	hcmFilterName   = "envoy.filters.network.http_connection_manager"
)

// Caps on an inbound listener's authorization config.
const (
	maxRBACFilters  = 16
	maxRBACPolicies = 1000
	maxRBACDepth    = 16
	maxRBACNodes    = 100000
)

// decodeInbound maps an inbound listener onto the proxy's authorization
// config: the RBAC HTTP filters of its HTTP connection manager, in order.
// A listener without RBAC filters gives an empty config (allow all).
func decodeInbound(b []byte) (string, authz.Config, error) {
	name, in, err := decodeListener(b)
	return name, in.authz, err
}

// inbound is what a sidecar takes from its Service's inbound listener.
type inbound struct {
	authz authz.Config
	// mtls is the pushed mode (MTLSStrict, MTLSPermissive), "" for none.
	mtls string
}

// decodeListener maps an inbound listener onto its authorization config
// and mTLS mode.
func decodeListener(b []byte) (string, inbound, error) {
	var l envoypb.Listener
	if err := unmarshal(b, &l); err != nil {
		return "", inbound{}, err
	}
	name := l.GetName()
	if err := capped("listener name", name, maxName); err != nil {
		return name, inbound{}, err
	}
	fc, mode, err := inboundChain(&l, name)
	if err != nil {
		return name, inbound{}, err
	}
	cfg, err := decodeHCM(fc, name)
	return name, inbound{authz: cfg, mtls: mode}, err
}

// decodeHCM maps the HTTP connection manager of an inbound filter chain.
func decodeHCM(fc *envoypb.FilterChain, name string) (authz.Config, error) {
	var cfg authz.Config
	f := fc.GetFilters()[0]
	if f.GetName() != hcmFilterName || !anyIs(f.GetTypedConfig(), hcmMsgName) {
		return cfg, unsupported("listener "+name+".filter_chains[0].filters[0]", "network filter %q", f.GetName())
	}
	var hcm envoypb.HttpConnectionManager
	if err := unmarshal(f.GetTypedConfig().GetValue(), &hcm); err != nil {
		return cfg, err
	}
	hfs := hcm.GetHttpFilters()
	for i, hf := range hfs {
		p := fmt.Sprintf("listener %s.http_filters[%d]", name, i)
		switch {
		case hf.GetDisabled():
			return cfg, unsupported(p+".disabled", "disabled filters")
		case anyIs(hf.GetTypedConfig(), routerMsgName):
			if i != len(hfs)-1 {
				return cfg, invalid(p, "the router must be the last filter")
			}
		case anyIs(hf.GetTypedConfig(), rbacMsgName):
			var r envoypb.RBACFilter
			if err := unmarshal(hf.GetTypedConfig().GetValue(), &r); err != nil {
				return cfg, err
			}
			flt, ok, err := rbacFilter(&r, p)
			if err != nil {
				return cfg, err
			}
			if ok {
				if len(cfg.Filters) >= maxRBACFilters {
					return cfg, overLimit(p, maxRBACFilters)
				}
				cfg.Filters = append(cfg.Filters, flt)
			}
		default:
			return cfg, unsupported(p, "HTTP filter %q on an inbound listener", hf.GetName())
		}
	}
	return cfg, nil
}

// rbacFilter maps one RBAC filter; ok is false for a filter without rules,
// which Envoy runs as no filter at all.
func rbacFilter(r *envoypb.RBACFilter, p string) (authz.Filter, bool, error) {
	var f authz.Filter
	if r.GetShadowRules() != nil {
		return f, false, unsupported(p+".shadow_rules", "shadow rules")
	}
	if r.GetMatcher() != nil {
		return f, false, unsupported(p+".matcher", "the matcher API")
	}
	rules := r.GetRules()
	if rules == nil {
		return f, false, nil
	}
	switch rules.GetAction() {
	case envoypb.RBAC_ALLOW:
		f.Action = authz.Allow
	case envoypb.RBAC_DENY:
		f.Action = authz.Deny
	default:
		return f, false, unsupported(p+".rules.action", "action %v", rules.GetAction())
	}
	pols := rules.GetPolicies()
	if len(pols) > maxRBACPolicies {
		return f, false, overLimit(p+".rules.policies", maxRBACPolicies)
	}
	names := make([]string, 0, len(pols))
	for n := range pols {
		names = append(names, n)
	}
	sort.Strings(names)
	d := &rbacDecoder{}
	for _, n := range names {
		pp := p + ".rules.policies[" + n + "]"
		if err := capped(pp, n, maxName); err != nil {
			return f, false, err
		}
		pol := pols[n]
		if pol.GetCondition() != nil || pol.GetCheckedCondition() != nil {
			return f, false, unsupported(pp+".condition", "CEL conditions")
		}
		if len(pol.GetPermissions()) == 0 || len(pol.GetPrincipals()) == 0 {
			return f, false, invalid(pp, "permissions and principals must not be empty")
		}
		out := authz.Policy{Name: n}
		for i, pm := range pol.GetPermissions() {
			m, err := d.permission(pm, fmt.Sprintf("%s.permissions[%d]", pp, i), 0)
			if err != nil {
				return f, false, err
			}
			out.Permissions = append(out.Permissions, m)
		}
		for i, pr := range pol.GetPrincipals() {
			m, err := d.principal(pr, fmt.Sprintf("%s.principals[%d]", pp, i), 0)
			if err != nil {
				return f, false, err
			}
			out.Principals = append(out.Principals, m)
		}
		f.Policies = append(f.Policies, out)
	}
	return f, true, nil
}

//lint:file-ignore SA1019 Envoy still accepts the deprecated header matchers; the oracle maps them as the client does

package xdstest

import (
	"fmt"
	"sort"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/weft-mesh/weft/internal/proxy/authz"
)

// AuthzFromListener maps an inbound listener's RBAC HTTP filters onto the
// proxy's authorization config, with go-control-plane's full types: the
// oracle the sidecar's decoder is held to.
func AuthzFromListener(l *listenerv3.Listener) (authz.Config, error) {
	var cfg authz.Config
	if len(l.FilterChains) == 0 || len(l.FilterChains[0].Filters) != 1 {
		return cfg, fmt.Errorf("listener %s: want filter chains of one filter", l.Name)
	}
	var hcm hcmv3.HttpConnectionManager
	if err := l.FilterChains[0].Filters[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
		return cfg, fmt.Errorf("listener %s: %w", l.Name, err)
	}
	for _, hf := range hcm.HttpFilters {
		var r rbacv3.RBAC
		if hf.GetTypedConfig().MessageIs(&r) {
			if err := hf.GetTypedConfig().UnmarshalTo(&r); err != nil {
				return cfg, err
			}
			if r.Rules == nil {
				continue
			}
			f := authz.Filter{Action: authz.Allow}
			if r.Rules.Action == rbacconfigv3.RBAC_DENY {
				f.Action = authz.Deny
			}
			names := make([]string, 0, len(r.Rules.Policies))
			for n := range r.Rules.Policies {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				p := r.Rules.Policies[n]
				out := authz.Policy{Name: n}
				for _, pm := range p.Permissions {
					out.Permissions = append(out.Permissions, permFromXDS(pm))
				}
				for _, pr := range p.Principals {
					out.Principals = append(out.Principals, princFromXDS(pr))
				}
				f.Policies = append(f.Policies, out)
			}
			cfg.Filters = append(cfg.Filters, f)
		}
	}
	return cfg, nil
}

func permFromXDS(p *rbacconfigv3.Permission) authz.Permission {
	var out authz.Permission
	switch r := p.Rule.(type) {
	case *rbacconfigv3.Permission_AndRules:
		for _, x := range r.AndRules.Rules {
			out.And = append(out.And, permFromXDS(x))
		}
	case *rbacconfigv3.Permission_OrRules:
		for _, x := range r.OrRules.Rules {
			out.Or = append(out.Or, permFromXDS(x))
		}
	case *rbacconfigv3.Permission_Any:
		out.Any = r.Any
	case *rbacconfigv3.Permission_Header:
		out.Header = headerFromXDS(r.Header)
	case *rbacconfigv3.Permission_UrlPath:
		m := strFromXDS(r.UrlPath.GetPath())
		out.Path = &m
	case *rbacconfigv3.Permission_DestinationPort:
		out.Port = r.DestinationPort
	case *rbacconfigv3.Permission_NotRule:
		m := permFromXDS(r.NotRule)
		out.Not = &m
	}
	return out
}

func princFromXDS(p *rbacconfigv3.Principal) authz.Principal {
	var out authz.Principal
	switch r := p.Identifier.(type) {
	case *rbacconfigv3.Principal_AndIds:
		for _, x := range r.AndIds.Ids {
			out.And = append(out.And, princFromXDS(x))
		}
	case *rbacconfigv3.Principal_OrIds:
		for _, x := range r.OrIds.Ids {
			out.Or = append(out.Or, princFromXDS(x))
		}
	case *rbacconfigv3.Principal_Any:
		out.Any = r.Any
	case *rbacconfigv3.Principal_Authenticated_:
		out.Authenticated = &authz.Authenticated{}
		if r.Authenticated.PrincipalName != nil {
			m := strFromXDS(r.Authenticated.PrincipalName)
			out.Authenticated.Name = &m
		}
	case *rbacconfigv3.Principal_NotId:
		m := princFromXDS(r.NotId)
		out.Not = &m
	}
	return out
}

func strFromXDS(s *matcherv3.StringMatcher) authz.StringMatch {
	m := authz.StringMatch{IgnoreCase: s.GetIgnoreCase()}
	switch v := s.GetMatchPattern().(type) {
	case *matcherv3.StringMatcher_Exact:
		m.Kind, m.Value = authz.Exact, v.Exact
	case *matcherv3.StringMatcher_Prefix:
		m.Kind, m.Value = authz.Prefix, v.Prefix
	case *matcherv3.StringMatcher_Suffix:
		m.Kind, m.Value = authz.Suffix, v.Suffix
	case *matcherv3.StringMatcher_Contains:
		m.Kind, m.Value = authz.Contains, v.Contains
	case *matcherv3.StringMatcher_SafeRegex:
		m.Kind, m.Value = authz.Regex, v.SafeRegex.GetRegex()
	}
	return m
}

func headerFromXDS(h *routev3.HeaderMatcher) *authz.HeaderMatch {
	out := &authz.HeaderMatch{Name: h.Name, Invert: h.InvertMatch}
	var sm *matcherv3.StringMatcher
	switch v := h.HeaderMatchSpecifier.(type) {
	case *routev3.HeaderMatcher_StringMatch:
		sm = v.StringMatch
	case *routev3.HeaderMatcher_ExactMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v.ExactMatch}}
	case *routev3.HeaderMatcher_PrefixMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: v.PrefixMatch}}
	case *routev3.HeaderMatcher_SuffixMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: v.SuffixMatch}}
	case *routev3.HeaderMatcher_ContainsMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Contains{Contains: v.ContainsMatch}}
	case *routev3.HeaderMatcher_SafeRegexMatch:
		sm = &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: v.SafeRegexMatch}}
	case *routev3.HeaderMatcher_PresentMatch:
		out.Present = true
		if !v.PresentMatch {
			out.Invert = !out.Invert
		}
		return out
	default:
		out.Present = true
		return out
	}
	m := strFromXDS(sm)
	out.Match = &m
	return out
}

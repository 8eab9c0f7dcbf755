package client

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// rbacDecoder maps RBAC permissions and principals, bounding their depth
// and their number in one listener.
type rbacDecoder struct{ nodes int }

func (d *rbacDecoder) step(p string, depth int) error {
	d.nodes++
	if d.nodes > maxRBACNodes {
		return overLimit("rbac rules", maxRBACNodes)
	}
	if depth > maxRBACDepth {
		return invalid(p, "nested deeper than %d", maxRBACDepth)
	}
	return nil
}

func (d *rbacDecoder) permission(pm *envoypb.Permission, p string, depth int) (authz.Permission, error) {
	var out authz.Permission
	if err := d.step(p, depth); err != nil {
		return out, err
	}
	set := func(rs []*envoypb.Permission, name string) ([]authz.Permission, error) {
		if len(rs) == 0 {
			return nil, invalid(p+"."+name+".rules", "must not be empty")
		}
		l := make([]authz.Permission, 0, len(rs))
		for i, r := range rs {
			m, err := d.permission(r, fmt.Sprintf("%s.%s.rules[%d]", p, name, i), depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, m)
		}
		return l, nil
	}
	var err error
	switch r := pm.GetRule().(type) {
	case *envoypb.Permission_AndRules:
		out.And, err = set(r.AndRules.GetRules(), "and_rules")
	case *envoypb.Permission_OrRules:
		out.Or, err = set(r.OrRules.GetRules(), "or_rules")
	case *envoypb.Permission_Any:
		if !r.Any {
			return out, invalid(p+".any", "must be true")
		}
		out.Any = true
	case *envoypb.Permission_Header:
		out.Header, err = headerMatch(r.Header, p+".header")
	case *envoypb.Permission_UrlPath:
		sm := r.UrlPath.GetPath()
		if sm == nil {
			return out, invalid(p+".url_path.path", "required")
		}
		var m authz.StringMatch
		m, err = stringMatch(sm, p+".url_path.path")
		out.Path = &m
	case *envoypb.Permission_DestinationPort:
		if r.DestinationPort == 0 || r.DestinationPort > 65535 {
			return out, invalid(p+".destination_port", "must be 1..65535")
		}
		out.Port = r.DestinationPort
	case *envoypb.Permission_NotRule:
		var m authz.Permission
		m, err = d.permission(r.NotRule, p+".not_rule", depth+1)
		out.Not = &m
	case nil:
		return out, invalid(p, "a rule is required")
	default:
		return out, unsupported(p, "permission %T", r)
	}
	return out, err
}

func (d *rbacDecoder) principal(pr *envoypb.Principal, p string, depth int) (authz.Principal, error) {
	var out authz.Principal
	if err := d.step(p, depth); err != nil {
		return out, err
	}
	set := func(rs []*envoypb.Principal, name string) ([]authz.Principal, error) {
		if len(rs) == 0 {
			return nil, invalid(p+"."+name+".ids", "must not be empty")
		}
		l := make([]authz.Principal, 0, len(rs))
		for i, r := range rs {
			m, err := d.principal(r, fmt.Sprintf("%s.%s.ids[%d]", p, name, i), depth+1)
			if err != nil {
				return nil, err
			}
			l = append(l, m)
		}
		return l, nil
	}
	var err error
	switch r := pr.GetIdentifier().(type) {
	case *envoypb.Principal_AndIds:
		out.And, err = set(r.AndIds.GetIds(), "and_ids")
	case *envoypb.Principal_OrIds:
		out.Or, err = set(r.OrIds.GetIds(), "or_ids")
	case *envoypb.Principal_Any:
		if !r.Any {
			return out, invalid(p+".any", "must be true")
		}
		out.Any = true
	case *envoypb.Principal_Authenticated_:
		out.Authenticated = &authz.Authenticated{}
		if sm := r.Authenticated.GetPrincipalName(); sm != nil {
			var m authz.StringMatch
			m, err = stringMatch(sm, p+".authenticated.principal_name")
			out.Authenticated.Name = &m
		}
	case *envoypb.Principal_NotId:
		var m authz.Principal
		m, err = d.principal(r.NotId, p+".not_id", depth+1)
		out.Not = &m
	case nil:
		return out, invalid(p, "an identifier is required")
	default:
		// Source addresses and headers are not identities Weft trusts:
		// only the verified certificate is.
		return out, unsupported(p, "principal %T", r)
	}
	return out, err
}

// stringMatch maps a StringMatcher with every kind the authz table runs.
func stringMatch(s *envoypb.StringMatcher, p string) (authz.StringMatch, error) {
	m := authz.StringMatch{IgnoreCase: s.GetIgnoreCase()}
	switch v := s.GetMatchPattern().(type) {
	case *envoypb.StringMatcher_Exact:
		m.Kind, m.Value = authz.Exact, v.Exact
	case *envoypb.StringMatcher_Prefix:
		m.Kind, m.Value = authz.Prefix, v.Prefix
	case *envoypb.StringMatcher_Suffix:
		m.Kind, m.Value = authz.Suffix, v.Suffix
	case *envoypb.StringMatcher_Contains:
		m.Kind, m.Value = authz.Contains, v.Contains
	case *envoypb.StringMatcher_SafeRegex:
		if err := checkRegex(v.SafeRegex, p+".safe_regex"); err != nil {
			return m, err
		}
		m.Kind, m.Value = authz.Regex, v.SafeRegex.GetRegex()
	case nil:
		return m, invalid(p, "a match pattern is required")
	default:
		return m, unsupported(p, "custom matchers")
	}
	if err := capped(p, m.Value, maxValue); err != nil {
		return m, err
	}
	if m.Kind != authz.Exact && m.Kind != authz.Regex && m.Value == "" {
		return m, invalid(p, "prefix, suffix and contains must not be empty")
	}
	return m, nil
}

// headerMatch maps a route HeaderMatcher onto the authz table's.
func headerMatch(h *envoypb.HeaderMatcher, p string) (*authz.HeaderMatch, error) {
	name := h.GetName()
	if err := capped(p+".name", name, maxName); err != nil {
		return nil, err
	}
	if !nonEmpty(name) || !headerSafe(name) {
		return nil, invalid(p+".name", "must be a header name")
	}
	if name[0] == ':' && name != ":method" && name != ":authority" {
		return nil, unsupported(p+".name", "pseudo-header %q", name)
	}
	if h.GetTreatMissingHeaderAsEmpty() {
		return nil, unsupported(p+".treat_missing_header_as_empty", "treating a missing header as empty")
	}
	out := &authz.HeaderMatch{Name: name, Invert: h.GetInvertMatch()}
	var sm *envoypb.StringMatcher
	switch v := h.GetHeaderMatchSpecifier().(type) {
	case *envoypb.HeaderMatcher_StringMatch:
		sm = v.StringMatch
	case *envoypb.HeaderMatcher_ExactMatch:
		sm = &envoypb.StringMatcher{MatchPattern: &envoypb.StringMatcher_Exact{Exact: v.ExactMatch}}
	case *envoypb.HeaderMatcher_PrefixMatch:
		sm = &envoypb.StringMatcher{MatchPattern: &envoypb.StringMatcher_Prefix{Prefix: v.PrefixMatch}}
	case *envoypb.HeaderMatcher_SuffixMatch:
		sm = &envoypb.StringMatcher{MatchPattern: &envoypb.StringMatcher_Suffix{Suffix: v.SuffixMatch}}
	case *envoypb.HeaderMatcher_ContainsMatch:
		sm = &envoypb.StringMatcher{MatchPattern: &envoypb.StringMatcher_Contains{Contains: v.ContainsMatch}}
	case *envoypb.HeaderMatcher_SafeRegexMatch:
		sm = &envoypb.StringMatcher{MatchPattern: &envoypb.StringMatcher_SafeRegex{SafeRegex: v.SafeRegexMatch}}
	case *envoypb.HeaderMatcher_PresentMatch:
		out.Present = true
		if !v.PresentMatch {
			out.Invert = !out.Invert // present_match: false matches a header's absence
		}
		return out, nil
	case nil:
		out.Present = true // Envoy: no specifier matches the header's presence
		return out, nil
	default:
		return nil, unsupported(p, "header matcher %T", v)
	}
	m, err := stringMatch(sm, p)
	if err != nil {
		return nil, err
	}
	out.Match = &m
	return out, nil
}

package translate

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacconfigv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// InboundPort is the inbound listener's address in the xDS it is sent as
// (Istio's inbound port). A Weft sidecar applies the listener's HTTP
// filters to each inbound listener of its own config instead.
const InboundPort = 15006

// RBACFilter is the name Envoy registers its RBAC HTTP filter under.
const RBACFilter = "envoy.filters.http.rbac"

// InboundListenerName names the inbound listener of a Service: what the
// Service's sidecars subscribe to by name over LDS.
func InboundListenerName(namespace, service string) string {
	return InboundListenerPrefix + ClusterName(namespace, service, "")
}

// InboundListenerPrefix starts every inbound listener's name; the server
// tells a sidecar's subscription to its own from a proxyless client's.
const InboundListenerPrefix = "inbound/"

// buildInboundListener is svc's inbound listener: an HTTP connection
// manager whose RBAC filters hold the AuthorizationPolicies that govern
// svc. DENY policies form one filter that runs first, ALLOW policies a
// second (as Istio does), so a DENY match wins whatever ALLOW says. A
// Service no policy governs gets a listener without RBAC filters, so
// deleting the last policy is a push like any other.
func buildInboundListener(svc *mesh.Service, pols []*mesh.AuthorizationPolicy) (*listenerv3.Listener, error) {
	name := InboundListenerName(svc.Metadata.Namespace, svc.Metadata.Name)
	deny := &rbacconfigv3.RBAC{Action: rbacconfigv3.RBAC_DENY, Policies: map[string]*rbacconfigv3.Policy{}}
	allow := &rbacconfigv3.RBAC{Action: rbacconfigv3.RBAC_ALLOW, Policies: map[string]*rbacconfigv3.Policy{}}
	hasAllow := false
	for _, p := range pols {
		target := allow
		if p.Spec.Action == mesh.ActionDeny {
			target = deny
		} else {
			hasAllow = true
		}
		for i := range p.Spec.Rules {
			target.Policies[AuthzPolicyName(p, i)] = rbacPolicy(&p.Spec.Rules[i], p.Spec.Action == mesh.ActionDeny)
		}
	}
	var filters []*hcmv3.HttpFilter
	for _, r := range []*rbacconfigv3.RBAC{deny, allow} {
		if r == deny && len(deny.Policies) == 0 || r == allow && !hasAllow {
			continue
		}
		a, err := anypb.New(&rbacv3.RBAC{Rules: r})
		if err != nil {
			return nil, fmt.Errorf("translate listener %s: %w", name, err)
		}
		filters = append(filters, &hcmv3.HttpFilter{Name: RBACFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: a}})
	}
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, fmt.Errorf("translate listener %s: %w", name, err)
	}
	hcm, err := anypb.New(&hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: name,
		// The inbound route is the local app, which the sidecar's own
		// config names; the listener carries only the filters.
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: &routev3.RouteConfiguration{Name: name}},
		HttpFilters: append(filters, &hcmv3.HttpFilter{
			Name: routerFilter, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}),
	})
	if err != nil {
		return nil, fmt.Errorf("translate listener %s: %w", name, err)
	}
	chains, lfs, err := inboundChains(svc, &listenerv3.Filter{
		Name: hcmFilter, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
	})
	if err != nil {
		return nil, fmt.Errorf("translate listener %s: %w", name, err)
	}
	return &listenerv3.Listener{
		Name: name,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Protocol: corev3.SocketAddress_TCP, Address: "0.0.0.0",
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: InboundPort},
		}}},
		ListenerFilters: lfs,
		FilterChains:    chains,
	}, nil
}

// AuthzPolicyName names the RBAC policy of one rule: the
// AuthorizationPolicy's namespace/name and the rule's index, which is what
// a denial, weft explain and weft_authz_denied_total report.
func AuthzPolicyName(p *mesh.AuthorizationPolicy, rule int) string {
	return fmt.Sprintf("%s/%s/rules[%d]", p.Metadata.Namespace, p.Metadata.Name, rule)
}

// authzFor lists the policies that govern svc, sorted by key: those that
// target it and the mesh-wide ones.
func (idx *indexed) authzFor(svc *mesh.Service) []*mesh.AuthorizationPolicy {
	var out []*mesh.AuthorizationPolicy
	for _, p := range idx.authz {
		t := p.Spec.TargetRef
		if t == nil || p.Metadata.Namespace == svc.Metadata.Namespace && t.Name == svc.Metadata.Name {
			out = append(out, p)
		}
	}
	return out
}

func sortAuthz(ps []*mesh.AuthorizationPolicy) {
	sort.Slice(ps, func(a, b int) bool { return mesh.Key(ps[a]) < mesh.Key(ps[b]) })
}

// rbacPolicy is one rule: any of its sources, and any of its operations
// together with every condition. In a DENY policy paths compare without
// case, so a case-insensitive app cannot be reached at /ADMIN when /admin
// is denied; in an ALLOW policy they compare exactly.
func rbacPolicy(r *mesh.AuthorizationRule, deny bool) *rbacconfigv3.Policy {
	p := &rbacconfigv3.Policy{}
	if len(r.From) == 0 {
		p.Principals = []*rbacconfigv3.Principal{{Identifier: &rbacconfigv3.Principal_Any{Any: true}}}
	}
	for _, f := range r.From {
		var ids []*rbacconfigv3.Principal
		if len(f.Source.Principals) > 0 {
			var or []*rbacconfigv3.Principal
			for _, pr := range f.Source.Principals {
				or = append(or, principalID(pr))
			}
			ids = append(ids, orIDs(or))
		}
		if len(f.Source.Namespaces) > 0 {
			var or []*rbacconfigv3.Principal
			for _, ns := range f.Source.Namespaces {
				or = append(or, authenticated(&matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{
					SafeRegex: &matcherv3.RegexMatcher{Regex: `spiffe://[^/]+/ns/` + regexp.QuoteMeta(ns) + `/sa/[^/]+`},
				}}))
			}
			ids = append(ids, orIDs(or))
		}
		p.Principals = append(p.Principals, &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_AndIds{AndIds: &rbacconfigv3.Principal_Set{Ids: ids}}})
	}
	var and []*rbacconfigv3.Permission
	if len(r.To) > 0 {
		var ops []*rbacconfigv3.Permission
		for i := range r.To {
			ops = append(ops, operation(&r.To[i].Operation, deny))
		}
		and = append(and, orRules(ops))
	}
	for _, c := range r.When {
		name, _ := mesh.HeaderConditionName(c.Key)
		var or []*rbacconfigv3.Permission
		for _, v := range c.Values {
			or = append(or, headerPerm(headerValue(name, v)))
		}
		and = append(and, orRules(or))
	}
	if len(and) == 0 {
		p.Permissions = []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_Any{Any: true}}}
	} else {
		p.Permissions = []*rbacconfigv3.Permission{{Rule: &rbacconfigv3.Permission_AndRules{AndRules: &rbacconfigv3.Permission_Set{Rules: and}}}}
	}
	return p
}

func operation(op *mesh.AuthorizationOperation, deny bool) *rbacconfigv3.Permission {
	var and []*rbacconfigv3.Permission
	if len(op.Hosts) > 0 {
		var or []*rbacconfigv3.Permission
		for _, h := range op.Hosts {
			sm := &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: h}, IgnoreCase: true}
			if strings.HasPrefix(h, "*.") {
				sm.MatchPattern = &matcherv3.StringMatcher_Suffix{Suffix: h[1:]}
			}
			or = append(or, headerPerm(&routev3.HeaderMatcher{Name: ":authority", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: sm}}))
		}
		and = append(and, orRules(or))
	}
	if len(op.Methods) > 0 {
		var or []*rbacconfigv3.Permission
		for _, m := range op.Methods {
			or = append(or, headerPerm(&routev3.HeaderMatcher{Name: ":method", HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
				StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: m}},
			}}))
		}
		and = append(and, orRules(or))
	}
	if len(op.Paths) > 0 {
		var or []*rbacconfigv3.Permission
		for _, p := range op.Paths {
			sm := pattern(p)
			sm.IgnoreCase = deny
			or = append(or, &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
				Rule: &matcherv3.PathMatcher_Path{Path: sm},
			}}})
		}
		and = append(and, orRules(or))
	}
	if len(op.Ports) > 0 {
		var or []*rbacconfigv3.Permission
		for _, port := range op.Ports {
			or = append(or, &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_DestinationPort{DestinationPort: uint32(port)}})
		}
		and = append(and, orRules(or))
	}
	return &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_AndRules{AndRules: &rbacconfigv3.Permission_Set{Rules: and}}}
}

// pattern maps Istio's string forms: "*" (any: a prefix of ""), "prefix*",
// "*suffix" and exact. "*" is a safe_regex, since Envoy refuses an empty
// prefix.
func pattern(s string) *matcherv3.StringMatcher {
	switch {
	case s == "*":
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: ".*"}}}
	case strings.HasSuffix(s, "*"):
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Prefix{Prefix: s[:len(s)-1]}}
	case strings.HasPrefix(s, "*"):
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Suffix{Suffix: s[1:]}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: s}}
}

// principalID matches one principal; "*" is any authenticated peer.
func principalID(s string) *rbacconfigv3.Principal {
	if s == "*" {
		return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_Authenticated_{Authenticated: &rbacconfigv3.Principal_Authenticated{}}}
	}
	return authenticated(pattern(mesh.PrincipalID(s)))
}

func authenticated(sm *matcherv3.StringMatcher) *rbacconfigv3.Principal {
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_Authenticated_{Authenticated: &rbacconfigv3.Principal_Authenticated{PrincipalName: sm}}}
}

// headerValue matches one condition value; "*" means present.
func headerValue(name, v string) *routev3.HeaderMatcher {
	if v == "*" {
		return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_PresentMatch{PresentMatch: true}}
	}
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: pattern(v)}}
}

func headerPerm(h *routev3.HeaderMatcher) *rbacconfigv3.Permission {
	return &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_Header{Header: h}}
}

// orRules is one permission when there is one, else their or.
func orRules(ps []*rbacconfigv3.Permission) *rbacconfigv3.Permission {
	if len(ps) == 1 {
		return ps[0]
	}
	return &rbacconfigv3.Permission{Rule: &rbacconfigv3.Permission_OrRules{OrRules: &rbacconfigv3.Permission_Set{Rules: ps}}}
}

func orIDs(ps []*rbacconfigv3.Principal) *rbacconfigv3.Principal {
	if len(ps) == 1 {
		return ps[0]
	}
	return &rbacconfigv3.Principal{Identifier: &rbacconfigv3.Principal_OrIds{OrIds: &rbacconfigv3.Principal_Set{Ids: ps}}}
}

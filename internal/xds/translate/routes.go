package translate

import (
	"fmt"
	"strconv"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// buildVirtualHost serves one Service: the rules of the HTTPRoutes whose
// parent it is, in order, then a catch-all to the Service itself, so
// traffic no rule matches still reaches it (GAMMA's behaviour).
func buildVirtualHost(svc *mesh.Service, routes []*mesh.HTTPRoute, pol *mesh.TrafficPolicy) (*routev3.VirtualHost, error) {
	ns, name := svc.Metadata.Namespace, svc.Metadata.Name
	vh := &routev3.VirtualHost{
		Name:    name + "." + ns,
		Domains: []string{name, name + "." + ns, name + "." + ns + ".svc", name + "." + ns + ".svc.cluster.local"},
	}
	// Clients that keep the port in the authority (catalog:80, and gRPC's
	// xds:///catalog:80) match the Service's declared ports.
	for _, d := range vh.Domains[:4] {
		for _, p := range svc.Spec.Ports {
			vh.Domains = append(vh.Domains, d+":"+strconv.Itoa(int(p.Port)))
		}
	}
	seen := map[string]bool{}
	for _, d := range vh.Domains {
		seen[d] = true
	}
	hash := hashPolicy(pol)
	if pol != nil && pol.Spec.RateLimit != nil {
		a, err := rateLimitAny(pol.Spec.RateLimit)
		if err != nil {
			return nil, fmt.Errorf("translate %s: spec.rateLimit: %w", mesh.Key(pol), err)
		}
		vh.TypedPerFilterConfig = map[string]*anypb.Any{rateLimitFilter: a}
	}
	for _, rt := range routes {
		for _, h := range rt.Spec.Hostnames {
			if !seen[h] {
				vh.Domains = append(vh.Domains, h)
				seen[h] = true
			}
		}
		for i, rule := range rt.Spec.Rules {
			action, err := routeAction(ns, &rule, hash)
			if err == nil {
				action.RetryPolicy = retryPolicy(pol, &rule)
				action.RequestMirrorPolicies = mirrorPolicies(ns, &rule)
			}
			if err != nil {
				return nil, fmt.Errorf("translate %s: spec.rules[%d]: %w", mesh.Key(rt), i, err)
			}
			filters, err := ruleFilters(&rule)
			if err != nil {
				return nil, fmt.Errorf("translate %s: spec.rules[%d]: %w", mesh.Key(rt), i, err)
			}
			for j, m := range rule.Matches {
				r := &routev3.Route{
					Name:                 fmt.Sprintf("%s/%s/rule-%d/match-%d", rt.Metadata.Namespace, rt.Metadata.Name, i, j),
					Match:                routeMatch(&m),
					Action:               &routev3.Route_Route{Route: action},
					TypedPerFilterConfig: filters,
				}
				setHeaderModifiers(r, &rule)
				setURLFilters(r, &rule, &m)
				if rule.Name != "" {
					r.Name = fmt.Sprintf("%s/%s/%s/match-%d", rt.Metadata.Namespace, rt.Metadata.Name, rule.Name, j)
				}
				vh.Routes = append(vh.Routes, r)
			}
		}
	}
	vh.Routes = append(vh.Routes, &routev3.Route{
		Name:  name + "." + ns + "/default",
		Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
		Action: &routev3.Route_Route{Route: &routev3.RouteAction{
			ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: ClusterName(ns, name, "")},
			HashPolicy:       hash,
			RetryPolicy:      retryPolicy(pol, nil),
		}},
	})
	return vh, nil
}

func routeMatch(m *mesh.HTTPRouteMatch) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{}
	switch m.Path.Type {
	case "Exact":
		rm.PathSpecifier = &routev3.RouteMatch_Path{Path: m.Path.Value}
	case "RegularExpression":
		rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: m.Path.Value}}
	default:
		if m.Path.Value == "/" {
			rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
		} else {
			rm.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: m.Path.Value}
		}
	}
	if m.Method != "" {
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{Name: ":method",
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact(m.Method)}})
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, &routev3.HeaderMatcher{Name: h.Name,
			HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatch(h)}})
	}
	for _, q := range m.QueryParams {
		rm.QueryParameters = append(rm.QueryParameters, &routev3.QueryParameterMatcher{Name: q.Name,
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatch(q)}})
	}
	return rm
}

func exact(v string) *matcherv3.StringMatcher {
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: v}}
}

func stringMatch(v mesh.ValueMatch) *matcherv3.StringMatcher {
	if v.Type == "RegularExpression" {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{Regex: v.Value}}}
	}
	return exact(v.Value)
}

func routeAction(ns string, rule *mesh.HTTPRouteRule, hash []*routev3.RouteAction_HashPolicy) (*routev3.RouteAction, error) {
	a := &routev3.RouteAction{HashPolicy: hash, ClusterNotFoundResponseCode: invalidBackendCode}
	if len(rule.BackendRefs) == 0 {
		return a, nil // a redirect: setURLFilters replaces the action
	}
	if len(rule.BackendRefs) == 1 {
		b := rule.BackendRefs[0]
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: ClusterName(ns, b.Name, b.Subset)}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, b := range rule.BackendRefs {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{
				Name: ClusterName(ns, b.Name, b.Subset), Weight: wrapperspb.UInt32(uint32(*b.Weight)),
			})
		}
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	if t := rule.Timeouts; t != nil && t.Request != "" {
		d, err := time.ParseDuration(t.Request)
		if err != nil {
			return nil, fmt.Errorf("timeouts.request: %w", err)
		}
		a.Timeout = durationpb.New(d)
	}
	return a, nil
}

// invalidBackendCode answers the requests a rule means for an invalid
// backendRef: a rule keeps naming the (absent) cluster of a missing
// Service or subset, so it never falls through to another backend, and
// Gateway API asks 500 for that share of requests, whether the rule has
// one backend or that one among weighted others. Envoy and Weft's sidecar
// read this field; the response carries the flag NC.
const invalidBackendCode = routev3.RouteAction_INTERNAL_SERVER_ERROR

// hashPolicy carries a RING_HASH policy's key onto the routes, where xDS
// keeps it.
func hashPolicy(pol *mesh.TrafficPolicy) []*routev3.RouteAction_HashPolicy {
	if pol == nil || pol.Spec.LoadBalancer == nil || pol.Spec.LoadBalancer.HashOn == nil {
		return nil
	}
	h := pol.Spec.LoadBalancer.HashOn
	if h.Header != "" {
		return []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Header_{
			Header: &routev3.RouteAction_HashPolicy_Header{HeaderName: h.Header}}}}
	}
	return []*routev3.RouteAction_HashPolicy{{PolicySpecifier: &routev3.RouteAction_HashPolicy_Cookie_{
		Cookie: &routev3.RouteAction_HashPolicy_Cookie{Name: h.Cookie}}}}
}

package xdstest

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// ToProxy maps an update onto the proxy's plain structs, so the proxy never
// sees an xDS type (DESIGN.md import rule 2) and the sidecar only swaps
// state. Anything Weft cannot honour is an error: the update is NACKed
// rather than half applied.
func ToProxy(u Update) (route.Config, []cluster.Config, error) {
	var errs []error
	var clusters []cluster.Config
	for _, c := range u.Clusters {
		cc, err := clusterFromXDS(c, u.Endpoints[c.Name])
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster %s: %w", c.Name, err))
			continue
		}
		clusters = append(clusters, cc)
	}
	var rc route.Config
	if u.Routes != nil {
		for _, vh := range u.Routes.VirtualHosts {
			v := route.VirtualHost{Name: vh.Name, Domains: vh.Domains}
			if len(vh.TypedPerFilterConfig) > 0 {
				_, rl, err := filtersFromXDS(vh.TypedPerFilterConfig)
				if err != nil {
					errs = append(errs, fmt.Errorf("virtual host %s: %w", vh.Name, err))
				}
				v.RateLimit = rl
			}
			for _, r := range vh.Routes {
				rt, err := routeFromXDS(r)
				if err != nil {
					errs = append(errs, fmt.Errorf("route %s: %w", r.Name, err))
					continue
				}
				v.Routes = append(v.Routes, rt)
			}
			rc.VirtualHosts = append(rc.VirtualHosts, v)
		}
	}
	return rc, clusters, errors.Join(errs...)
}

func clusterFromXDS(c *clusterv3.Cluster, cla *endpointv3.ClusterLoadAssignment) (cluster.Config, error) {
	cc := cluster.Config{Name: c.Name, ConnectTimeout: c.GetConnectTimeout().AsDuration()}
	switch c.LbPolicy {
	case clusterv3.Cluster_LEAST_REQUEST:
		cc.LB = cluster.LBPeakEWMA
	case clusterv3.Cluster_ROUND_ROBIN:
		cc.LB = cluster.LBRoundRobin
	case clusterv3.Cluster_RING_HASH:
		cc.LB = cluster.LBRingHash
	default:
		return cc, fmt.Errorf("lb_policy %s is not supported", c.LbPolicy)
	}
	resilienceFromXDS(c, &cc)
	if c.GetCommonLbConfig().GetLocalityWeightedLbConfig() != nil {
		return cc, errors.New("locality-weighted balancing is not supported")
	}
	if re := c.GetCommonLbConfig().GetZoneAwareLbConfig().GetRoutingEnabled(); re != nil {
		switch re.GetValue() {
		case 0:
			cc.NoLocality = true
		case 100:
		default:
			return cc, fmt.Errorf("zone-aware routing for %v %% of requests is not supported", re.GetValue())
		}
	}
	ids, err := peerIDsFromXDS(c)
	if err != nil {
		return cc, err
	}
	cc.PeerIDs = ids
	if c.GetMetadata().GetFilterMetadata()["weft"].GetFields()["protocol"].GetStringValue() == "tcp" {
		cc.Protocol = cluster.TCP
	}
	if a := c.TypedExtensionProtocolOptions["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]; a != nil {
		var o httpv3.HttpProtocolOptions
		if err := a.UnmarshalTo(&o); err != nil {
			return cc, fmt.Errorf("http protocol options: %w", err)
		}
		switch {
		case o.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil:
			cc.Protocol = cluster.HTTP2
		case o.GetUseDownstreamProtocolConfig() != nil:
			cc.Protocol = cluster.Auto
		}
		cc.IdleTimeout = o.GetCommonHttpProtocolOptions().GetIdleTimeout().AsDuration()
	}
	for _, loc := range cla.GetEndpoints() {
		for _, lb := range loc.LbEndpoints {
			if lb.HealthStatus == corev3.HealthStatus_UNHEALTHY || lb.HealthStatus == corev3.HealthStatus_DRAINING {
				continue // not ready: known, but sent nothing
			}
			sa := lb.GetEndpoint().GetAddress().GetSocketAddress()
			if sa == nil {
				return cc, errors.New("endpoint without a socket address")
			}
			ep := cluster.EndpointConfig{
				Address: net.JoinHostPort(sa.Address, strconv.Itoa(int(sa.GetPortValue()))),
				Weight:  lb.GetLoadBalancingWeight().GetValue(),
				Zone:    loc.GetLocality().GetZone(),
				Region:  loc.GetLocality().GetRegion(),
			}
			ep.MTLS = lb.GetMetadata().GetFilterMetadata()["envoy.transport_socket_match"].GetFields()["tlsMode"].GetStringValue() == "mtls"
			if md := lb.GetMetadata().GetFilterMetadata()["weft"]; md != nil {
				ep.Labels = map[string]string{}
				for k, v := range md.Fields {
					ep.Labels[k] = v.GetStringValue()
				}
			}
			cc.Endpoints = append(cc.Endpoints, ep)
		}
	}
	return cc, nil
}

func routeFromXDS(r *routev3.Route) (route.Route, error) {
	out := route.Route{Name: r.Name}
	m := r.GetMatch()
	switch p := m.PathSpecifier.(type) {
	case *routev3.RouteMatch_Prefix:
		out.Match.Path = route.PathMatch{Kind: route.PathPrefix, Value: p.Prefix}
		if p.Prefix != "/" && !strings.HasSuffix(p.Prefix, "/") {
			return out, fmt.Errorf("prefix %q is not segment-aware; use path_separated_prefix", p.Prefix)
		}
	case *routev3.RouteMatch_PathSeparatedPrefix:
		out.Match.Path = route.PathMatch{Kind: route.PathPrefix, Value: p.PathSeparatedPrefix}
	case *routev3.RouteMatch_Path:
		out.Match.Path = route.PathMatch{Kind: route.PathExact, Value: p.Path}
	case *routev3.RouteMatch_SafeRegex:
		out.Match.Path = route.PathMatch{Kind: route.PathRegex, Value: p.SafeRegex.GetRegex()}
	default:
		return out, fmt.Errorf("path match %T is not supported", p)
	}
	for _, h := range m.Headers {
		sm := h.GetStringMatch()
		if sm == nil {
			return out, fmt.Errorf("header %s: only string_match is supported", h.Name)
		}
		if h.Name == ":method" {
			out.Match.Method = sm.GetExact()
			continue
		}
		kind, val, err := stringMatch(sm.GetExact(), sm.GetSafeRegex().GetRegex(), sm.GetSafeRegex() != nil)
		if err != nil {
			return out, fmt.Errorf("header %s: %w", h.Name, err)
		}
		out.Match.Headers = append(out.Match.Headers, route.HeaderMatch{Name: strings.ToLower(h.Name), Kind: kind, Value: val, Invert: h.InvertMatch})
	}
	for _, q := range m.QueryParameters {
		sm := q.GetStringMatch()
		kind, val, err := stringMatch(sm.GetExact(), sm.GetSafeRegex().GetRegex(), sm.GetSafeRegex() != nil)
		if err != nil {
			return out, fmt.Errorf("query %s: %w", q.Name, err)
		}
		out.Match.Query = append(out.Match.Query, route.QueryMatch{Name: q.Name, Kind: kind, Value: val})
	}
	if len(r.TypedPerFilterConfig) > 0 {
		f, rl, err := filtersFromXDS(r.TypedPerFilterConfig)
		if err != nil {
			return out, err
		}
		out.Fault, out.RateLimit = f, rl
	}
	var err error
	if out.RequestHeaders, err = headersFromXDS(r.RequestHeadersToAdd, r.RequestHeadersToRemove); err != nil {
		return out, err
	}
	if out.ResponseHeaders, err = headersFromXDS(r.ResponseHeadersToAdd, r.ResponseHeadersToRemove); err != nil {
		return out, err
	}
	if rd := r.GetRedirect(); rd != nil {
		return out, redirectFromXDS(rd, &out)
	}
	a := r.GetRoute()
	if a == nil {
		return out, errors.New("only route and redirect actions are supported")
	}
	if err := rewriteFromXDS(a, &out); err != nil {
		return out, err
	}
	out.Timeout = a.GetTimeout().AsDuration()
	if rp := a.GetRetryPolicy(); rp != nil {
		p, err := retryFromXDS(rp)
		if err != nil {
			return out, err
		}
		out.Retry = p
	}
	switch a.GetClusterNotFoundResponseCode() {
	case routev3.RouteAction_NOT_FOUND:
		out.MissingClusterStatus = 404
	case routev3.RouteAction_INTERNAL_SERVER_ERROR:
		out.MissingClusterStatus = 500
	}
	switch cs := a.ClusterSpecifier.(type) {
	case *routev3.RouteAction_Cluster:
		out.Backends = []route.Backend{{Cluster: cs.Cluster, Weight: 1}}
	case *routev3.RouteAction_WeightedClusters:
		for _, w := range cs.WeightedClusters.Clusters {
			out.Backends = append(out.Backends, route.Backend{Cluster: w.Name, Weight: w.GetWeight().GetValue()})
		}
	default:
		return out, fmt.Errorf("cluster specifier %T is not supported", cs)
	}
	return out, nil
}

func stringMatch(exact, regex string, isRegex bool) (route.StringMatchKind, string, error) {
	if isRegex {
		return route.MatchRegex, regex, nil
	}
	return route.MatchExact, exact, nil
}

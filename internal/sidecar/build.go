package sidecar

import (
	"fmt"
	"strings"

	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// subsetCluster names the cluster that holds one subset of a service.
func subsetCluster(service, subset string) string {
	if subset == "" {
		return service
	}
	return service + "/" + subset
}

// outboundState builds the state behind the app-facing listeners: one virtual
// host per service, one cluster per service and per subset. old (may be nil)
// lends its endpoint state (pools, latency) to endpoints that stay.
func outboundState(c *Config, version string, old *proxy.State) (*proxy.State, error) {
	var clusters []cluster.Config
	for _, s := range c.Services {
		base := serviceCluster(s, c)
		clusters = append(clusters, base)
		for _, sub := range s.Subsets {
			cc := base
			cc.Name = subsetCluster(s.Name, sub.Name)
			cc.Endpoints = nil
			for _, ep := range base.Endpoints {
				if labelsMatch(ep.Labels, sub.Labels) {
					cc.Endpoints = append(cc.Endpoints, ep)
				}
			}
			clusters = append(clusters, cc)
		}
	}
	rules := map[string][]Rule{}
	for _, rs := range c.Routes {
		rules[rs.Service] = rs.Rules
	}
	var vhosts []route.VirtualHost
	for _, s := range c.Services {
		if s.Protocol == "tcp" {
			continue
		}
		vh := route.VirtualHost{Name: s.Name, Domains: append([]string{s.Name}, s.Hosts...)}
		for i, r := range rules[s.Name] {
			vh.Routes = append(vh.Routes, compileRule(s.Name, i, r))
		}
		vh.Routes = append(vh.Routes, route.Route{
			Name:     s.Name + "/default",
			Backends: []route.Backend{{Cluster: s.Name, Weight: 1}},
		})
		vhosts = append(vhosts, vh)
	}
	return buildState(version, route.Config{VirtualHosts: vhosts}, clusters, old)
}

func buildState(version string, rc route.Config, clusters []cluster.Config, old *proxy.State) (*proxy.State, error) {
	table, err := route.Compile(rc)
	if err != nil {
		return nil, fmt.Errorf("build routes: %w", err)
	}
	var oldSet *cluster.Set
	if old != nil {
		oldSet = old.Clusters
	}
	set, err := cluster.NewSet(clusters, oldSet)
	if err != nil {
		return nil, fmt.Errorf("build clusters: %w", err)
	}
	return &proxy.State{Version: version, Routes: table, Clusters: set}, nil
}

func serviceCluster(s Service, c *Config) cluster.Config {
	cc := cluster.Config{
		Name:                s.Name,
		Protocol:            protocolOf(s.Protocol),
		ConnectTimeout:      s.Connect,
		IdleTimeout:         s.Pool.IdleTimeout,
		MaxConnsPerEndpoint: s.Pool.MaxConnections,
		MaxIdlePerEndpoint:  s.Pool.MaxIdle,
		Hash:                cluster.HashPolicy{Header: strings.ToLower(s.HashOn.Header), Cookie: s.HashOn.Cookie},
	}
	switch s.LB {
	case "round_robin":
		cc.LB = cluster.LBRoundRobin
	case "ring_hash":
		cc.LB = cluster.LBRingHash
	}
	for _, ep := range s.Endpoints {
		cc.Endpoints = append(cc.Endpoints, cluster.EndpointConfig{
			Address: ep.Address, Weight: ep.Weight, Zone: ep.Zone, Labels: ep.Labels,
		})
	}
	return cc
}

func protocolOf(p string) cluster.Protocol {
	switch p {
	case "http2", "grpc":
		return cluster.HTTP2
	case "tcp":
		return cluster.TCP
	}
	return cluster.HTTP1
}

func labelsMatch(have, want map[string]string) bool {
	for k, v := range want {
		if have[k] != v {
			return false
		}
	}
	return true
}

func compileRule(service string, i int, r Rule) route.Route {
	name := r.Name
	if name == "" {
		name = fmt.Sprintf("%s/rule-%d", service, i)
	}
	rt := route.Route{Name: name, Timeout: r.Timeout}
	m := r.Match
	switch {
	case m.PathExact != "":
		rt.Match.Path = route.PathMatch{Kind: route.PathExact, Value: m.PathExact}
	case m.PathRegex != "":
		rt.Match.Path = route.PathMatch{Kind: route.PathRegex, Value: m.PathRegex}
	default:
		rt.Match.Path = route.PathMatch{Kind: route.PathPrefix, Value: m.PathPrefix}
	}
	rt.Match.Method = strings.ToUpper(m.Method)
	for _, h := range m.Headers {
		rt.Match.Headers = append(rt.Match.Headers, route.HeaderMatch{
			Name: strings.ToLower(h.Name), Kind: kindOf(h), Value: h.Exact + h.Regex, Invert: h.Invert,
		})
	}
	for _, q := range m.Query {
		rt.Match.Query = append(rt.Match.Query, route.QueryMatch{Name: q.Name, Kind: kindOf(q), Value: q.Exact + q.Regex})
	}
	for _, b := range r.Backends {
		w := b.Weight
		if len(r.Backends) == 1 && w == 0 {
			w = 1
		}
		rt.Backends = append(rt.Backends, route.Backend{Cluster: subsetCluster(b.Service, b.Subset), Weight: w})
	}
	return rt
}

func kindOf(kv KVMatch) route.StringMatchKind {
	switch {
	case kv.Present:
		return route.MatchPresent
	case kv.Regex != "":
		return route.MatchRegex
	}
	return route.MatchExact
}

// inboundState builds the state of one inbound listener: every request goes
// to the local app, over the protocol given.
func inboundState(in Inbound, proto cluster.Protocol, version string, old *proxy.State) (*proxy.State, error) {
	name := "inbound/" + in.Name
	rc := route.Config{VirtualHosts: []route.VirtualHost{{
		Name:    name,
		Domains: []string{"*"},
		Routes:  []route.Route{{Name: name, Backends: []route.Backend{{Cluster: name, Weight: 1}}}},
	}}}
	cc := []cluster.Config{{
		Name:      name,
		Protocol:  proto,
		LB:        cluster.LBRoundRobin,
		Endpoints: []cluster.EndpointConfig{{Address: in.App}},
	}}
	return buildState(version, rc, cc, old)
}

package sidecar

import (
	"fmt"

	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// quickCluster names the one cluster of quick mode.
const quickCluster = "upstream"

// outboundState builds the state behind the app-facing listeners when no
// control plane supplies it: quick mode's one upstream for every host, or
// nothing (every request gets the mesh's no-route answer). old (may be
// nil) lends its endpoint state (pools, latency) to endpoints that stay.
func outboundState(c *Config, version string, old *proxy.State) (*proxy.State, error) {
	u := c.Upstream
	if u == nil {
		return buildState(version, route.Config{}, nil, old)
	}
	rc := route.Config{VirtualHosts: []route.VirtualHost{{
		Name:    quickCluster,
		Domains: []string{quickCluster, "*"},
		Routes:  []route.Route{{Name: quickCluster, Backends: []route.Backend{{Cluster: quickCluster, Weight: 1}}}},
	}}}
	cc := []cluster.Config{{
		Name:      quickCluster,
		Protocol:  protocolOf(u.Protocol),
		Endpoints: []cluster.EndpointConfig{{Address: u.Address}},
	}}
	return buildState(version, rc, cc, old)
}

func buildState(version string, rc route.Config, clusters []cluster.Config, old *proxy.State, opts ...cluster.Option) (*proxy.State, error) {
	var oldSet *cluster.Set
	var oldTable *route.Table
	if old != nil {
		oldSet, oldTable = old.Clusters, old.Routes
	}
	// Unchanged rate limits keep their buckets across the push.
	table, err := route.CompileFrom(rc, oldTable)
	if err != nil {
		return nil, fmt.Errorf("build routes: %w", err)
	}
	set, err := cluster.NewSet(clusters, oldSet, opts...)
	if err != nil {
		return nil, fmt.Errorf("build clusters: %w", err)
	}
	return &proxy.State{Version: version, Routes: table, Clusters: set}, nil
}

func protocolOf(p string) cluster.Protocol {
	switch p {
	case "http2":
		return cluster.HTTP2
	case "tcp":
		return cluster.TCP
	}
	return cluster.HTTP1
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

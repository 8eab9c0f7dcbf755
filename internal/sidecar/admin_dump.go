package sidecar

import (
	"fmt"
	"reflect"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// VirtualHostDump is one virtual host of the route table the sidecar runs.
type VirtualHostDump struct {
	Name    string      `json:"name"`
	Domains []string    `json:"domains"`
	Routes  []RouteDump `json:"routes"`
}

// RouteDump is one compiled route: its match, weighted backends and limits.
type RouteDump struct {
	Name     string        `json:"name"`
	Match    MatchDump     `json:"match"`
	Backends []BackendDump `json:"backends"`
	// Timeout is a Go duration ("5s"); "" means the listener's default.
	Timeout string `json:"timeout,omitempty"`
	// MissingClusterStatus answers a backend whose cluster is absent
	// (500 for an invalid backendRef; 503 by default).
	MissingClusterStatus int `json:"missingClusterStatus"`
	// Rewrite is the route's URLRewrite: the Host and path forwarded.
	Rewrite *route.Rewrite `json:"rewrite,omitempty"`
	// Redirect is the route's RequestRedirect, answered by the sidecar.
	Redirect *route.Redirect `json:"redirect,omitempty"`
	// Mirrors are the clusters copies go to, each with its share.
	Mirrors []route.Mirror `json:"mirrors,omitempty"`
}

// MatchDump is a route's match in words.
type MatchDump struct {
	Path    string   `json:"path"` // "prefix /api", "exact /x", "regex ..."
	Method  string   `json:"method,omitempty"`
	Headers []string `json:"headers,omitempty"` // "name exact value", "!name present"
	Query   []string `json:"query,omitempty"`
}

// BackendDump is one weighted backend of a route.
type BackendDump struct {
	Cluster string `json:"cluster"`
	Weight  uint32 `json:"weight"`
}

func dumpRoutes(rc route.Config) []VirtualHostDump {
	out := []VirtualHostDump{}
	for _, vh := range rc.VirtualHosts {
		v := VirtualHostDump{Name: vh.Name, Domains: vh.Domains, Routes: []RouteDump{}}
		for _, r := range vh.Routes {
			rd := RouteDump{Name: r.Name, Match: dumpMatch(r.Match), MissingClusterStatus: r.MissingStatus(),
				Rewrite: r.Rewrite, Redirect: r.Redirect, Mirrors: r.Mirrors}
			if r.Timeout > 0 {
				rd.Timeout = r.Timeout.String()
			}
			for _, b := range r.Backends {
				rd.Backends = append(rd.Backends, BackendDump{Cluster: b.Cluster, Weight: b.Weight})
			}
			v.Routes = append(v.Routes, rd)
		}
		out = append(out, v)
	}
	return out
}

var (
	pathKinds   = map[route.PathMatchKind]string{route.PathPrefix: "prefix", route.PathExact: "exact", route.PathRegex: "regex"}
	stringKinds = map[route.StringMatchKind]string{route.MatchExact: "exact", route.MatchRegex: "regex", route.MatchPresent: "present"}
)

func dumpMatch(m route.Match) MatchDump {
	d := MatchDump{Path: strings.TrimSpace(pathKinds[m.Path.Kind] + " " + m.Path.Value), Method: m.Method}
	for _, h := range m.Headers {
		neg := ""
		if h.Invert {
			neg = "!"
		}
		d.Headers = append(d.Headers, strings.TrimSpace(fmt.Sprintf("%s%s %s %s", neg, h.Name, stringKinds[h.Kind], h.Value)))
	}
	for _, q := range m.Query {
		d.Query = append(d.Query, strings.TrimSpace(fmt.Sprintf("%s %s %s", q.Name, stringKinds[q.Kind], q.Value)))
	}
	return d
}

var (
	protocolNames = map[cluster.Protocol]string{cluster.HTTP1: "http", cluster.HTTP2: "http2", cluster.TCP: "tcp", cluster.Auto: "auto"}
	lbNames       = map[cluster.LBPolicy]string{cluster.LBPeakEWMA: "P2C_EWMA", cluster.LBRoundRobin: "ROUND_ROBIN", cluster.LBRingHash: "RING_HASH"}
)

func dumpCluster(c *cluster.Cluster) ClusterDump {
	cfg := c.Config
	cd := ClusterDump{Name: cfg.Name, Protocol: protocolNames[cfg.Protocol], LB: lbNames[cfg.LB], MTLS: cfg.TLS != nil,
		ConnectTimeout: durationText(cfg.ConnectTimeout), IdleTimeout: durationText(cfg.IdleTimeout),
		MaxConnsPerEndpoint: cfg.MaxConnsPerEndpoint, Endpoints: []EndpointDump{}}
	cd.Locality = tierShares(c)
	for i, ep := range c.Endpoints {
		ed := EndpointDump{Address: ep.Address, Weight: ep.Weight, Zone: ep.Zone, Region: ep.Region,
			Tier: endpointTier(c, cd.Locality != nil, i), Labels: ep.Labels}
		if ep.Pool != nil {
			ed.OpenConns, ed.IdleConns = ep.Pool.Stats()
		}
		cd.Endpoints = append(cd.Endpoints, ed)
	}
	return cd
}

// durationText prints a duration as Go writes it ("2s"); "" for the default.
func durationText(d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return d.String()
}

// jsonView turns v into what encoding/json would make of it, except that
// every time.Duration prints as a Go duration string ("2s"), not
// nanoseconds: /config is read by people.
func jsonView(v reflect.Value) any {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		return time.Duration(v.Int()).String()
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return jsonView(v.Elem())
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			return v.Interface()
		}
		m := map[string]any{}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			if !f.IsExported() {
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fv := v.Field(i)
			if strings.Contains(opts, "omitempty") && fv.IsZero() {
				continue
			}
			m[name] = jsonView(fv)
		}
		return m
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.IsNil() {
			return nil
		}
		out := make([]any, v.Len())
		for i := range out {
			out[i] = jsonView(v.Index(i))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		m := map[string]any{}
		for _, k := range v.MapKeys() {
			m[fmt.Sprint(k.Interface())] = jsonView(v.MapIndex(k))
		}
		return m
	}
	return v.Interface()
}

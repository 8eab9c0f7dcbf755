package sidecar

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// ExplainRequest is the request POST /explain explains, as the app would
// send it to the sidecar's outbound side.
type ExplainRequest struct {
	// Method defaults to GET.
	Method string `json:"method,omitempty"`
	// URL is http://AUTHORITY/PATH?QUERY; the scheme may be left out.
	URL string `json:"url"`
	// Headers are "Name: value" lines; for a name given twice the first
	// counts, as in the proxy.
	Headers []string `json:"headers,omitempty"`
	// Inbound explains the request as arriving on this sidecar's inbound
	// side from a peer: the authorization decision, then the local app.
	Inbound bool `json:"inbound,omitempty"`
	// Peer is the caller's SPIFFE ID with Inbound ("" a plaintext caller).
	Peer string `json:"peer,omitempty"`
	// Port is the inbound port with Inbound (0: any port rule fails).
	Port int `json:"port,omitempty"`
}

// Caps on an explain request: an operator's request, not a load test.
const (
	maxExplainBody    = 64 << 10
	maxExplainHeaders = 100
)

// Explanation is the /explain answer: what this sidecar's current outbound
// tables do with the request, computed by the proxy's own matching code.
type Explanation struct {
	Node string `json:"node"`
	// Version is the version of the tables explained (xds-N with a
	// control plane).
	Version string           `json:"version"`
	Request ExplainedRequest `json:"request"`
	route.Explanation
	// Route is the matched rule's settings; nil when nothing matched.
	Route *ExplainedRoute `json:"route,omitempty"`
	// Authz is the inbound authorization decision (inbound requests only).
	Authz *ExplainedAuthz `json:"authz,omitempty"`
	// Notes say what the tables alone do not: the learning of unknown
	// services, missing clusters.
	Notes []string `json:"notes,omitempty"`
}

// ExplainedRequest is the request as the proxy sees it after
// normalisation: routing reads Host and Path, never the raw forms.
type ExplainedRequest struct {
	Method    string   `json:"method"`
	Authority string   `json:"authority"`
	Host      string   `json:"host"`
	Target    string   `json:"target"`
	Path      string   `json:"path"`
	Query     string   `json:"query,omitempty"`
	Headers   []string `json:"headers,omitempty"`
}

// ExplainedRoute is the matched rule's settings and backends.
type ExplainedRoute struct {
	Name string `json:"name,omitempty"`
	// Timeout bounds the whole request; TimeoutFrom says whether the
	// route set it or it is this sidecar's limits.requestTimeout.
	Timeout     string `json:"timeout"`
	TimeoutFrom string `json:"timeoutFrom"`
	// Policy holds the route's other settings (filters and whatever the
	// route table gains: retries, faults), as the proxy holds them.
	Policy   map[string]json.RawMessage `json:"policy,omitempty"`
	Backends []ExplainedBackend         `json:"backends"`
}

// ExplainedBackend is one weighted backend of the matched rule and the
// live state of its cluster.
type ExplainedBackend struct {
	route.Share
	// Missing: the sidecar has no such cluster (requests picking it get 503).
	Missing        bool   `json:"missing,omitempty"`
	LB             string `json:"lb,omitempty"`
	Protocol       string `json:"protocol,omitempty"`
	ConnectTimeout string `json:"connectTimeout,omitempty"`
	// Endpoints are the ones in rotation: the control plane sends no
	// traffic to instances that are not ready, so they are not here.
	Endpoints []ExplainedEndpoint `json:"endpoints"`
	// Locality is the traffic share of each locality tier now, nearest
	// first; absent when the cluster is not locality-aware.
	Locality []TierShare `json:"locality,omitempty"`
}

// ExplainedEndpoint is one endpoint's configuration and load.
type ExplainedEndpoint struct {
	Address string `json:"address"`
	Weight  uint32 `json:"weight"`
	Zone    string `json:"zone,omitempty"`
	Region  string `json:"region,omitempty"`
	// Tier is the endpoint's locality tier seen from this sidecar (zone,
	// region, remote); empty when the cluster is not locality-aware.
	Tier   string            `json:"tier,omitempty"`
	Labels map[string]string `json:"labels,omitempty"`
	// InFlight is requests in flight now; Latency the balancer's
	// peak-EWMA estimate ("" before the first response).
	InFlight  int64  `json:"inFlight"`
	Latency   string `json:"latency,omitempty"`
	OpenConns int    `json:"openConns"`
	IdleConns int    `json:"idleConns"`
}

// headerList serves route matching from "name: value" lines.
type headerList [][2]string

func (h headerList) Get(name string) ([]byte, bool) {
	for _, kv := range h {
		if kv[0] == name {
			return []byte(kv[1]), true
		}
	}
	return nil, false
}

// parseExplain checks req and splits it as the proxy would.
func parseExplain(req ExplainRequest) (ExplainedRequest, headerList, error) {
	var out ExplainedRequest
	out.Method = req.Method
	if out.Method == "" {
		out.Method = "GET"
	}
	for i := 0; i < len(out.Method); i++ {
		if !tokenByte(out.Method[i]) {
			return out, nil, fmt.Errorf("explain: method %q is not a valid token", req.Method)
		}
	}
	if req.URL == "" {
		return out, nil, errors.New("explain: url: must not be empty")
	}
	rest := req.URL
	if scheme, after, ok := strings.Cut(rest, "://"); ok {
		if scheme != "http" && scheme != "https" {
			return out, nil, fmt.Errorf("explain: url %q: scheme must be http or https", req.URL)
		}
		rest = after
	}
	out.Authority, out.Target = rest, "/"
	if i := strings.IndexAny(rest, "/?"); i >= 0 {
		out.Authority, out.Target = rest[:i], rest[i:]
		if out.Target[0] == '?' {
			out.Target = "/" + out.Target
		}
	}
	host, err := route.NormalizeHost(nil, []byte(out.Authority))
	if err != nil {
		return out, nil, fmt.Errorf("explain: url %q: host %q: %w", req.URL, out.Authority, err)
	}
	path, query, err := route.NormalizePath(nil, []byte(out.Target))
	if err != nil {
		return out, nil, fmt.Errorf("explain: url %q: path %q: %w", req.URL, out.Target, err)
	}
	out.Host, out.Path, out.Query = string(host), string(path), string(query)
	if len(req.Headers) > maxExplainHeaders {
		return out, nil, fmt.Errorf("explain: headers: more than %d", maxExplainHeaders)
	}
	var hs headerList
	for i, line := range req.Headers {
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || strings.IndexFunc(name, func(r rune) bool { return r > 0x7f || !tokenByte(byte(r)) }) >= 0 {
			return out, nil, fmt.Errorf("explain: headers[%d] %q: want \"Name: value\" with a token name", i, line)
		}
		value = strings.TrimSpace(value)
		hs = append(hs, [2]string{name, value})
		out.Headers = append(out.Headers, name+": "+value)
	}
	return out, hs, nil
}

func tokenByte(c byte) bool {
	if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// explain answers req from the outbound tables the proxy reads now.
func (s *Sidecar) explain(req ExplainRequest) (Explanation, error) {
	if req.Inbound {
		return s.explainInbound(req)
	}
	r, hs, err := parseExplain(req)
	if err != nil {
		return Explanation{}, err
	}
	e := Explanation{Request: r}
	e.Matched = -1
	if a := s.active.Load(); a != nil {
		e.Node = a.cfg.Node
	}
	st := s.outbound.Load()
	if st == nil || st.Routes == nil {
		e.Notes = append(e.Notes, "this sidecar has no outbound tables yet: every request gets 503")
		return e, nil
	}
	e.Version = st.Version
	e.Explanation = st.Routes.Explain([]byte(r.Host), []byte(r.Method), []byte(r.Path), []byte(r.Query), hs)
	if e.Explanation.Route == nil {
		note := "no rule matches: the proxy answers 404"
		if e.VirtualHost == "" {
			note = "no virtual host serves " + r.Host + ": the proxy answers 404"
			if s.learn != nil {
				note += ", after asking the control plane for the service (up to 2s) if its name is one"
			}
		}
		e.Notes = append(e.Notes, note)
		return e, nil
	}
	e.Route = s.explainRoute(st, e.Explanation.Route)
	for _, b := range e.Route.Backends {
		if b.Missing && b.Percent > 0 {
			e.Notes = append(e.Notes, fmt.Sprintf("cluster %s is not in this sidecar's set: the %.4g%% of requests that pick it get 503", b.Cluster, b.Percent))
		} else if !b.Missing && len(b.Endpoints) == 0 && b.Percent > 0 {
			e.Notes = append(e.Notes, fmt.Sprintf("cluster %s has no endpoints in rotation: the %.4g%% of requests that pick it get 503", b.Cluster, b.Percent))
		}
	}
	return e, nil
}

func (s *Sidecar) explainRoute(st *proxy.State, rt *route.Route) *ExplainedRoute {
	out := &ExplainedRoute{Name: rt.Name, Timeout: rt.Timeout.String(), TimeoutFrom: "route"}
	if rt.Timeout <= 0 {
		d := 15 * time.Second // the proxy's default when the limits set none
		if a := s.active.Load(); a != nil && a.cfg.Limits.RequestTimeout > 0 {
			d = a.cfg.Limits.RequestTimeout
		}
		out.Timeout, out.TimeoutFrom = d.String(), "limits.requestTimeout"
	}
	out.Policy = routePolicy(rt)
	for _, sh := range rt.Shares() {
		b := ExplainedBackend{Share: sh}
		c := st.Clusters.Get(sh.Cluster)
		if c == nil {
			b.Missing = true
			out.Backends = append(out.Backends, b)
			continue
		}
		b.LB, b.Protocol = lbName(c.Config.LB), protocolName(c.Config.Protocol)
		if c.Config.ConnectTimeout > 0 {
			b.ConnectTimeout = c.Config.ConnectTimeout.String()
		}
		b.Endpoints = []ExplainedEndpoint{}
		b.Locality = tierShares(c)
		for i, ep := range c.Endpoints {
			inflight, ewma := ep.Stats.Snapshot()
			open, idle := ep.Pool.Stats()
			x := ExplainedEndpoint{Address: ep.Address, Weight: max(ep.Weight, 1), Zone: ep.Zone, Region: ep.Region,
				Tier: endpointTier(c, b.Locality != nil, i), Labels: ep.Labels,
				InFlight: inflight, OpenConns: open, IdleConns: idle}
			if ewma > 0 {
				x.Latency = ewma.Round(time.Microsecond).String()
			}
			b.Endpoints = append(b.Endpoints, x)
		}
		out.Backends = append(out.Backends, b)
	}
	return out
}

// routePolicy is every setting of rt beyond its name, match, backends and
// timeout, as JSON: fields the route table gains show up without a change
// here.
func routePolicy(rt *route.Route) map[string]json.RawMessage {
	raw, err := json.Marshal(rt)
	if err != nil {
		b, _ := json.Marshal(err.Error())
		return map[string]json.RawMessage{"error": b}
	}
	var m map[string]json.RawMessage
	json.Unmarshal(raw, &m)
	for k, v := range m {
		switch k {
		case "Name", "Match", "Backends", "Timeout":
			delete(m, k)
			continue
		}
		if s := string(v); s == "null" || s == "[]" || s == "{}" || s == "0" || s == `""` || s == "false" {
			delete(m, k)
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func lbName(p cluster.LBPolicy) string {
	switch p {
	case cluster.LBPeakEWMA:
		return "p2c-peak-ewma"
	case cluster.LBRoundRobin:
		return "round-robin"
	case cluster.LBRingHash:
		return "ring-hash"
	}
	return fmt.Sprintf("lb(%d)", p)
}

func protocolName(p cluster.Protocol) string {
	switch p {
	case cluster.HTTP1:
		return "http1"
	case cluster.HTTP2:
		return "http2"
	case cluster.TCP:
		return "tcp"
	case cluster.Auto:
		return "auto" // each request keeps its HTTP version
	}
	return fmt.Sprintf("protocol(%d)", p)
}

// serveExplain is POST /explain: a JSON ExplainRequest in, an Explanation
// out; a bad request gets 400 with the reason.
func (s *Sidecar) serveExplain(w http.ResponseWriter, r *http.Request) {
	var req ExplainRequest
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxExplainBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		http.Error(w, "explain: body: "+err.Error(), http.StatusBadRequest)
		return
	}
	e, err := s.explain(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(e)
}

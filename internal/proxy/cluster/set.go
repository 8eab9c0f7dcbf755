package cluster

import (
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"net"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/balance"
	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/retry"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
)

// Set is an immutable collection of clusters keyed by name.
type Set struct {
	byName map[string]*Cluster
}

// Cluster is one named group of endpoints with its balancer.
type Cluster struct {
	Config    Config
	Endpoints []*Endpoint
	// Budget counts requests and retries; it survives config updates that
	// keep the cluster's name and budget settings.
	Budget *retry.Budget
	// Breaker counts what is in flight to the cluster against
	// Config.Breaker. It carries over config updates with the cluster's
	// name, so requests in flight stay counted.
	Breaker *breaker.Breaker
	picker  balance.Picker
	outlier *breaker.Detector // nil without Config.Outlier
	// tiers, when set, split Endpoints by closeness to the sidecar
	// (nearest first); nil balances over all endpoints.
	tiers  []tier
	tierOf []Tier // each endpoint's tier, for explain and /config
	rnd    func() uint64
}

// Endpoint is one upstream address with its pool and load statistics.
// Endpoint state survives config updates while address, protocol and TLS
// settings stay the same.
type Endpoint struct {
	Address string
	Weight  uint32
	// Locality is where the endpoint runs (from its EDS locality).
	Locality
	Labels map[string]string
	Pool   *upstream.Pool   // HTTP/1.1 and TCP clusters
	H2     *upstream.H2Pool // HTTP2 and Auto clusters only
	Stats  balance.Stats
	// Outlier is the endpoint's ejection state; it survives updates.
	Outlier breaker.Host
	// TLS is what connections to this endpoint are wrapped in: the
	// cluster's, or nil for a plaintext endpoint (see EndpointConfig.MTLS).
	TLS *tls.Config

	det   atomic.Pointer[breaker.Detector] // the current cluster's, or nil
	proto Protocol
	cfg   Config // the settings its pools were built with
}

// NewSet validates cfgs and builds a Set, reusing endpoint state from old
// (may be nil) where it is compatible. Call Retire(old, new) once the new
// set is live to close what left.
func NewSet(cfgs []Config, old *Set, opts ...Option) (*Set, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	s := &Set{byName: make(map[string]*Cluster, len(cfgs))}
	var errs []error
	names := map[string]bool{}
	for i, c := range cfgs {
		p := fmt.Sprintf("clusters[%d]", i)
		if names[c.Name] && c.Name != "" {
			errs = append(errs, fmt.Errorf("%s.name: duplicate cluster %q", p, c.Name))
		}
		names[c.Name] = true
		if err := validate(p, &c); err != nil {
			errs = append(errs, err)
			continue
		}
		cl := &Cluster{Config: c, Budget: old.budget(c), Breaker: breaker.New(c.Breaker)}
		if old != nil && old.byName[c.Name] != nil {
			cl.Breaker = old.byName[c.Name].Breaker
			cl.Breaker.SetLimits(c.Breaker)
		}
		var stats []*balance.Stats
		var weights []uint32
		var keys []string
		for _, ec := range c.Endpoints {
			var ep *Endpoint
			if old != nil {
				ep = old.reusable(c, ec)
			}
			if ep == nil {
				ep = newEndpoint(c, ec, cl.Breaker)
				ep.Weight, ep.Locality, ep.Labels = ec.Weight, Locality{Region: ec.Region, Zone: ec.Zone}, ec.Labels
			}
			cl.Endpoints = append(cl.Endpoints, ep)
			stats = append(stats, &ep.Stats)
			weights = append(weights, ec.Weight)
			keys = append(keys, ec.Address)
		}
		switch c.LB {
		case LBRoundRobin:
			cl.picker = balance.NewRoundRobin(weights)
		case LBRingHash:
			cl.picker = balance.NewRing(keys, weights)
		default:
			cl.picker = balance.NewP2C(stats, weights)
		}
		cl.startOutlier(o)
		self := o.locality
		if c.NoLocality {
			self = Locality{}
		}
		cl.buildTiers(self, o.rnd)
		s.byName[c.Name] = cl
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return s, nil
}

// budget returns the retry budget of the cluster named in c from s, or a
// new one when s has none or its settings changed.
func (s *Set) budget(c Config) *retry.Budget {
	if s != nil {
		if prev := s.byName[c.Name]; prev != nil && prev.Config.RetryBudget == c.RetryBudget {
			return prev.Budget
		}
	}
	return retry.NewBudget(c.RetryBudget)
}

func validate(p string, c *Config) error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, fmt.Errorf("%s.name: must not be empty", p))
	}
	if c.LB == LBRingHash && (c.Hash.Header == "") == (c.Hash.Cookie == "") {
		errs = append(errs, fmt.Errorf("%s.hash: ring hash needs exactly one of header or cookie", p))
	}
	if c.LB > LBRingHash {
		errs = append(errs, fmt.Errorf("%s.lb: unknown policy %d", p, c.LB))
	}
	if c.Protocol > Auto {
		errs = append(errs, fmt.Errorf("%s.protocol: unknown protocol %d", p, c.Protocol))
	}
	seen := map[string]bool{}
	for j, ec := range c.Endpoints {
		ep := fmt.Sprintf("%s.endpoints[%d].address", p, j)
		host, port, err := net.SplitHostPort(ec.Address)
		if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n <= 0 || n > 65535 {
			errs = append(errs, fmt.Errorf("%s: must be host:port with a port in 1..65535; got %q", ep, ec.Address))
		}
		if seen[ec.Address] {
			errs = append(errs, fmt.Errorf("%s: duplicate endpoint %q", ep, ec.Address))
		}
		seen[ec.Address] = true
	}
	if c.ConnectTimeout < 0 || c.IdleTimeout < 0 || c.MaxConnsPerEndpoint < 0 || c.MaxIdlePerEndpoint < 0 {
		errs = append(errs, fmt.Errorf("%s: timeouts and limits must be >= 0", p))
	}
	if c.Outlier != nil {
		if err := validateOutlier(p+".outlier", c.Outlier); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func newEndpoint(c Config, ec EndpointConfig, gate *breaker.Breaker) *Endpoint {
	addr, tc := ec.Address, endpointTLS(c, ec)
	uc := upstream.Config{
		Addr: addr, TLS: tc, DialTimeout: c.ConnectTimeout,
		IdleTimeout: c.IdleTimeout, MaxConns: c.MaxConnsPerEndpoint, MaxIdle: c.MaxIdlePerEndpoint,
		Gate: gate,
	}
	ep := &Endpoint{Address: addr, Pool: upstream.NewPool(uc), TLS: tc, proto: c.Protocol, cfg: c}
	ep.Stats.Init(time.Now())
	switch c.Protocol {
	case HTTP2:
		ep.H2 = upstream.NewH2Pool(uc)
	case Auto:
		uc.ProbeHTTP2 = true
		ep.H2 = upstream.NewH2Pool(uc)
	}
	return ep
}

// endpointTLS is the TLS an endpoint is dialed with: the cluster's, except
// for an endpoint of a mesh mTLS cluster that is not marked MTLS.
func endpointTLS(c Config, ec EndpointConfig) *tls.Config {
	if len(c.PeerIDs) > 0 && !ec.MTLS {
		return nil
	}
	return c.TLS
}

// reusable finds an endpoint of the same cluster and address whose pools
// were built with the same connection settings.
func (s *Set) reusable(c Config, ec EndpointConfig) *Endpoint {
	ep := s.endpoint(c.Name, ec.Address)
	if ep == nil || ep.TLS != endpointTLS(c, ec) {
		return nil
	}
	// Requests in flight read an endpoint's weight, locality and labels
	// (metrics, tiers) without a lock: one whose attributes changed is a
	// new endpoint, never one rewritten under them.
	if ep.Weight != ec.Weight || ep.Locality != (Locality{Region: ec.Region, Zone: ec.Zone}) || !maps.Equal(ep.Labels, ec.Labels) {
		return nil
	}
	o := ep.cfg
	if o.Protocol != c.Protocol || o.TLS != c.TLS || o.ConnectTimeout != c.ConnectTimeout || o.IdleTimeout != c.IdleTimeout ||
		o.MaxConnsPerEndpoint != c.MaxConnsPerEndpoint || o.MaxIdlePerEndpoint != c.MaxIdlePerEndpoint {
		return nil
	}
	return ep
}

func (s *Set) endpoint(cluster, addr string) *Endpoint {
	c := s.byName[cluster]
	if c == nil {
		return nil
	}
	for _, ep := range c.Endpoints {
		if ep.Address == addr {
			return ep
		}
	}
	return nil
}

// Retire closes the pools of endpoints in old that next no longer holds.
func Retire(old, next *Set) {
	if old == nil {
		return
	}
	for name, c := range old.byName {
		for _, ep := range c.Endpoints {
			if next == nil || next.endpoint(name, ep.Address) != ep {
				ep.Pool.Close()
				if ep.H2 != nil {
					ep.H2.Close()
				}
			}
		}
	}
}

// Get returns the named cluster or nil.
func (s *Set) Get(name string) *Cluster { return s.byName[name] }

// Names lists the clusters, sorted.
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.byName))
	for n := range s.byName {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

package cluster

import (
	"fmt"
	"sync/atomic"
	"time"

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
	rr        atomic.Uint64
}

// Endpoint is one upstream address with its pool and load statistics.
// Endpoint state survives config updates while the address stays.
type Endpoint struct {
	Address  string
	Weight   uint32
	Zone     string
	Labels   map[string]string
	Pool     *upstream.Pool   // HTTP/1.1 and TCP clusters
	H2       *upstream.H2Pool // HTTP2 clusters only
	inflight atomic.Int64
}

// NewSet builds a Set from configs, reusing endpoint state from old (may be
// nil) where a cluster keeps an endpoint address. Endpoints only in old are
// closed by Retire(old, new) once the new set is live.
func NewSet(cfgs []Config, old *Set) (*Set, error) {
	s := &Set{byName: make(map[string]*Cluster, len(cfgs))}
	for i, c := range cfgs {
		if c.Name == "" {
			return nil, fmt.Errorf("clusters[%d].name: must not be empty", i)
		}
		if _, dup := s.byName[c.Name]; dup {
			return nil, fmt.Errorf("clusters[%d].name: duplicate cluster %q", i, c.Name)
		}
		cl := &Cluster{Config: c}
		for _, ec := range c.Endpoints {
			var ep *Endpoint
			if old != nil {
				ep = old.endpoint(c.Name, ec.Address)
			}
			if ep == nil {
				uc := upstream.Config{
					Addr: ec.Address, TLS: c.TLS, DialTimeout: c.ConnectTimeout,
					IdleTimeout: c.IdleTimeout, MaxConns: c.MaxConnsPerEndpoint, MaxIdle: c.MaxIdlePerEndpoint,
				}
				ep = &Endpoint{Address: ec.Address, Pool: upstream.NewPool(uc)}
				if c.Protocol == HTTP2 {
					ep.H2 = upstream.NewH2Pool(uc)
				}
			}
			ep.Weight, ep.Zone, ep.Labels = ec.Weight, ec.Zone, ec.Labels
			cl.Endpoints = append(cl.Endpoints, ep)
		}
		s.byName[c.Name] = cl
	}
	return s, nil
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

// Names lists the clusters (unordered).
func (s *Set) Names() []string {
	out := make([]string, 0, len(s.byName))
	for n := range s.byName {
		out = append(out, n)
	}
	return out
}

// Pick chooses an endpoint. hash is used by ring-hash clusters when hasHash.
// It returns nil when the cluster has no endpoints.
func (c *Cluster) Pick(hash uint64, hasHash bool) *Endpoint {
	n := len(c.Endpoints)
	if n == 0 {
		return nil
	}
	return c.Endpoints[int(c.rr.Add(1)%uint64(n))]
}

// Begin marks a request as started on ep; call End when it completes.
func (ep *Endpoint) Begin() time.Time {
	ep.inflight.Add(1)
	return time.Now()
}

// End records the outcome of a request begun at start.
func (ep *Endpoint) End(start time.Time, failed bool) {
	ep.inflight.Add(-1)
}

package cluster

import (
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
)

// Pick chooses an endpoint, nearest tier first when the cluster is
// locality-aware, passing over ejected ones. hash is used by
// ring-hash clusters when hasHash. It returns nil when the cluster has no
// endpoints; when every endpoint is ejected it picks among all of them
// (Envoy's panic mode), since failing everything would be worse.
func (c *Cluster) Pick(hash uint64, hasHash bool) *Endpoint {
	if c.tiers != nil {
		return c.pickTiered(hash, hasHash)
	}
	return c.pickAll(hash, hasHash)
}

// pickAll balances over every endpoint, passing over ejected ones.
func (c *Cluster) pickAll(hash uint64, hasHash bool) *Endpoint {
	i := c.picker.Pick(hash, hasHash)
	if i < 0 {
		return nil
	}
	if d := c.outlier; d != nil && d.AnyEjected() {
		return c.pickHealthy(d, i, hash, hasHash)
	}
	return c.Endpoints[i]
}

// pickHealthy asks the balancer twice more, then walks on from its first
// answer, so the balancer's choice is kept whenever it can be.
func (c *Cluster) pickHealthy(d *breaker.Detector, i int, hash uint64, hasHash bool) *Endpoint {
	now := d.Now().UnixNano()
	if !d.Ejected(&c.Endpoints[i].Outlier, now) {
		return c.Endpoints[i]
	}
	if !hasHash {
		for try := 0; try < 2; try++ {
			if j := c.picker.Pick(hash, false); j >= 0 && !d.Ejected(&c.Endpoints[j].Outlier, now) {
				return c.Endpoints[j]
			}
		}
	}
	n := len(c.Endpoints)
	for k := 1; k < n; k++ {
		if ep := c.Endpoints[(i+k)%n]; !d.Ejected(&ep.Outlier, now) {
			return ep
		}
	}
	return c.Endpoints[i]
}

// startOutlier gives the cluster its detector over its endpoints' state.
func (c *Cluster) startOutlier(o options) {
	if c.Config.Outlier == nil {
		for _, ep := range c.Endpoints {
			ep.det.Store(nil)
		}
		return
	}
	hosts := make([]*breaker.Host, len(c.Endpoints))
	for i, ep := range c.Endpoints {
		hosts[i] = &ep.Outlier
	}
	var onEject func()
	if o.obs != nil {
		name, obs := c.Config.Name, o.obs
		onEject = func() { obs.Ejected(name) }
	}
	c.outlier = breaker.NewDetector(*c.Config.Outlier, hosts, o.clock, onEject)
	for _, ep := range c.Endpoints {
		ep.det.Store(c.outlier)
	}
}

// Ejections counts the cluster's outlier ejections since its detector
// was built (0 without outlier detection).
func (c *Cluster) Ejections() uint64 {
	if c.outlier == nil {
		return 0
	}
	return c.outlier.Ejections()
}

// Ejected reports whether ep is ejected now.
func (c *Cluster) Ejected(ep *Endpoint) bool {
	if c.outlier == nil {
		return false
	}
	return c.outlier.Ejected(&ep.Outlier, c.outlier.Now().UnixNano())
}

// Begin marks a request as started on ep; pass the result to an End method.
func (ep *Endpoint) Begin() time.Time {
	ep.Stats.Begin()
	return time.Now()
}

// End records a request begun at start that got no response when failed
// (connect failure, reset, timeout), or one that ended well. Failures
// count as slow samples, so the balancer moves traffic away from failing
// hosts, and as local-origin failures for outlier detection.
func (ep *Endpoint) End(start time.Time, failed bool) {
	r := breaker.Success
	if failed {
		r = breaker.LocalOrigin
	}
	ep.end(start, failed, r)
}

// EndStatus records a request begun at start that the endpoint answered
// with status.
func (ep *Endpoint) EndStatus(start time.Time, status int) {
	ep.end(start, status >= 500, breaker.ResultOf(status))
}

// Abandon ends a request the proxy gave up for its own reasons (a full
// pool): the balancer sees a failure, outlier detection sees nothing.
func (ep *Endpoint) Abandon(start time.Time) {
	now := time.Now()
	ep.Stats.End(now, now.Sub(start), true)
}

func (ep *Endpoint) end(start time.Time, failed bool, r breaker.Result) {
	now := time.Now()
	ep.Stats.End(now, now.Sub(start), failed)
	if d := ep.det.Load(); d != nil {
		d.Record(&ep.Outlier, r, d.Stamp(now))
	}
}

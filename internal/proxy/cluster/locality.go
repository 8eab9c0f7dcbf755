package cluster

import (
	"math/rand/v2"

	"github.com/weft-mesh/weft/internal/proxy/balance"
)

// Locality is where a sidecar or an endpoint runs (Envoy's Locality
// without sub_zone). The zero value is "unknown".
type Locality struct {
	Region string `json:"region,omitempty"`
	Zone   string `json:"zone,omitempty"`
}

// IsZero reports an unknown locality.
func (l Locality) IsZero() bool { return l.Region == "" && l.Zone == "" }

// Tier ranks an endpoint by how close it is to the calling sidecar: traffic
// goes to the nearest tier that has enough healthy endpoints.
type Tier uint8

const (
	TierZone   Tier = iota // the caller's zone (in its region, when both name one)
	TierRegion             // the caller's region, another zone
	TierRemote             // anywhere else, or locality unknown
	numTiers
)

// String names the tier as /config and explain show it.
func (t Tier) String() string {
	switch t {
	case TierZone:
		return "zone"
	case TierRegion:
		return "region"
	default:
		return "remote"
	}
}

// TierOf places an endpoint at ep relative to a caller at self. An empty
// region on either side does not contradict a zone match: many setups
// name zones only.
func TierOf(self, ep Locality) Tier {
	regionOK := self.Region == "" || ep.Region == "" || self.Region == ep.Region
	switch {
	case self.Zone != "" && ep.Zone == self.Zone && regionOK:
		return TierZone
	case self.Region != "" && ep.Region == self.Region:
		return TierRegion
	}
	return TierRemote
}

// overprovision is Envoy's default overprovisioning factor (140 %): a tier
// with at least 1/1.4 = 71.4 % of its endpoints healthy takes all the
// traffic; below that, the deficit spills to the next tier.
const overprovision = 140

// loadScale is the resolution of tier loads: parts per 10,000.
const loadScale = 10_000

// tier is the endpoints of one Tier with a balancer over just them.
type tier struct {
	level  Tier
	idx    []int // indices into Cluster.Endpoints
	picker balance.Picker
}

// buildTiers splits c's endpoints into tiers around self. It leaves
// c.tiers nil (plain balancing over all endpoints) when self is unknown or
// every endpoint lands in one tier, where tiers change nothing.
func (c *Cluster) buildTiers(self Locality, rnd func() uint64) {
	c.tierOf = make([]Tier, len(c.Endpoints))
	c.rnd = rnd
	if c.rnd == nil {
		c.rnd = rand.Uint64
	}
	if self.IsZero() {
		for i := range c.tierOf {
			c.tierOf[i] = TierRemote
		}
		return
	}
	var by [numTiers]*tier
	for i, ep := range c.Endpoints {
		t := TierOf(self, ep.Locality)
		c.tierOf[i] = t
		if by[t] == nil {
			by[t] = &tier{level: t}
		}
		by[t].idx = append(by[t].idx, i)
	}
	var tiers []tier
	for _, t := range by {
		if t != nil {
			tiers = append(tiers, *t)
		}
	}
	if len(tiers) < 2 {
		return
	}
	for k := range tiers {
		tiers[k].picker = c.subPicker(tiers[k].idx)
	}
	c.tiers = tiers
}

// subPicker is a balancer of the cluster's policy over the endpoints idx.
func (c *Cluster) subPicker(idx []int) balance.Picker {
	stats := make([]*balance.Stats, len(idx))
	weights := make([]uint32, len(idx))
	keys := make([]string, len(idx))
	for k, i := range idx {
		ep := c.Endpoints[i]
		stats[k], weights[k], keys[k] = &ep.Stats, ep.Weight, ep.Address
	}
	switch c.Config.LB {
	case LBRoundRobin:
		return balance.NewRoundRobin(weights)
	case LBRingHash:
		return balance.NewRing(keys, weights)
	default:
		return balance.NewP2C(stats, weights)
	}
}

// tierLoads is Envoy's priority load: each tier's health is its healthy
// share times the overprovisioning factor, capped at 100 %; tiers take load
// nearest first up to their health, and when the healths sum to less than
// 100 % the loads are scaled up to fill it. ok is false when no endpoint
// is healthy anywhere (panic: balance over all of them).
func (c *Cluster) tierLoads(loads *[numTiers]uint32) (ok bool) {
	d := c.outlier
	if d == nil || !d.AnyEjected() {
		loads[0] = loadScale // every endpoint healthy: the nearest tier takes all
		return true
	}
	now := d.Now().UnixNano()
	left, sum := uint32(loadScale), uint32(0)
	for k, t := range c.tiers {
		healthy := 0
		for _, i := range t.idx {
			if !d.Ejected(&c.Endpoints[i].Outlier, now) {
				healthy++
			}
		}
		h := min(uint32(overprovision*loadScale/100*healthy/len(t.idx)), loadScale)
		loads[k] = min(h, left)
		left -= loads[k]
		sum += loads[k]
	}
	if sum == 0 {
		return false
	}
	if left > 0 {
		for k := range c.tiers {
			loads[k] = loads[k] * loadScale / sum
		}
	}
	return true
}

// pickTiered chooses a tier by its load, then an endpoint in it.
func (c *Cluster) pickTiered(hash uint64, hasHash bool) *Endpoint {
	var loads [numTiers]uint32
	if !c.tierLoads(&loads) {
		return c.pickAll(hash, hasHash)
	}
	r := uint32(c.rnd() % loadScale)
	k := 0
	for ; k < len(c.tiers)-1; k++ {
		if r < loads[k] {
			break
		}
		r -= loads[k]
	}
	t := &c.tiers[k]
	j := t.picker.Pick(hash, hasHash)
	if j < 0 {
		return c.pickAll(hash, hasHash)
	}
	i := t.idx[j]
	d := c.outlier
	if d == nil || !d.AnyEjected() {
		return c.Endpoints[i]
	}
	now := d.Now().UnixNano()
	if !d.Ejected(&c.Endpoints[i].Outlier, now) {
		return c.Endpoints[i]
	}
	if !hasHash {
		if j2 := t.picker.Pick(hash, false); j2 >= 0 && !d.Ejected(&c.Endpoints[t.idx[j2]].Outlier, now) {
			return c.Endpoints[t.idx[j2]]
		}
	}
	n := len(t.idx)
	for s := 1; s < n; s++ {
		if ep := c.Endpoints[t.idx[(j+s)%n]]; !d.Ejected(&ep.Outlier, now) {
			return ep
		}
	}
	return c.pickAll(hash, hasHash)
}

// TierLoad is one tier's current share of the cluster's traffic.
type TierLoad struct {
	Tier      Tier
	Endpoints int
	// Share is the tier's load in parts per 10,000.
	Share uint32
}

// TierLoads reports how traffic is spread over tiers now, nearest first;
// nil when the cluster is not locality-aware (no caller locality, or one
// tier only).
func (c *Cluster) TierLoads() []TierLoad {
	if c.tiers == nil {
		return nil
	}
	var loads [numTiers]uint32
	ok := c.tierLoads(&loads)
	out := make([]TierLoad, len(c.tiers))
	for k, t := range c.tiers {
		out[k] = TierLoad{Tier: t.level, Endpoints: len(t.idx)}
		if ok {
			out[k].Share = loads[k]
		}
	}
	return out
}

// EndpointTier is the tier of the cluster's i-th endpoint relative to the
// sidecar (TierRemote when the sidecar's locality is unknown).
func (c *Cluster) EndpointTier(i int) Tier {
	if i < 0 || i >= len(c.tierOf) {
		return TierRemote
	}
	return c.tierOf[i]
}

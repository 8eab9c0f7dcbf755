package sidecar

import (
	"unicode"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// Locality is where this sidecar runs. With one set, the sidecar prefers
// endpoints in its own zone, then its region, then the rest, and moves
// traffic on when fewer than 71.4 % of a tier's endpoints are healthy
// (Envoy's priority failover with its overprovisioning factor 1.4;
// outlier-ejected endpoints count as unhealthy). It is sent to the control
// plane as the xDS node's locality, and a registered instance carries it
// (zone, and region as the topology.kubernetes.io/region label). The
// registration's topology.kubernetes.io labels fill what is left empty.
type Locality struct {
	// Region, e.g. eu-west-1. Default: none. At most 128 printable
	// characters.
	Region string `yaml:"region" json:"region,omitempty"`
	// Zone, e.g. eu-west-1a. Default: register.zone. At most 128
	// printable characters.
	Zone string `yaml:"zone" json:"zone,omitempty"`
}

// Kubernetes' topology labels, which the control plane reads as an
// instance's region and zone.
const (
	LabelRegion = "topology.kubernetes.io/region"
	LabelZone   = "topology.kubernetes.io/zone"
)

// maxLocalityName caps a region or zone name.
const maxLocalityName = 128

// setLocalityDefaults makes the locality and the registration agree: each
// fills what the other left empty.
func (c *Config) setLocalityDefaults() {
	r := c.Register
	if r == nil {
		return
	}
	if c.Locality.Zone == "" {
		c.Locality.Zone = r.Zone
	}
	if c.Locality.Zone == "" {
		c.Locality.Zone = r.Labels[LabelZone]
	}
	if r.Zone == "" {
		r.Zone = c.Locality.Zone
	}
	if c.Locality.Region == "" {
		c.Locality.Region = r.Labels[LabelRegion]
	} else if r.Labels[LabelRegion] == "" {
		labels := make(map[string]string, len(r.Labels)+1)
		for k, v := range r.Labels {
			labels[k] = v
		}
		labels[LabelRegion] = c.Locality.Region
		r.Labels = labels
	}
}

func validateLocality(fe *fieldErrors, c *Config) {
	check := func(path, v string) {
		if len(v) > maxLocalityName {
			fe.add(path, "at most %d characters; got %d", maxLocalityName, len(v))
			return
		}
		for _, r := range v {
			if !unicode.IsPrint(r) || unicode.IsSpace(r) {
				fe.add(path, "must be printable with no spaces; got %q", v)
				return
			}
		}
	}
	check("locality.region", c.Locality.Region)
	check("locality.zone", c.Locality.Zone)
	if r := c.Register; r != nil && r.Zone != "" && c.Locality.Zone != "" && r.Zone != c.Locality.Zone {
		fe.add("register.zone", "must match locality.zone %q (or be left empty); got %q", c.Locality.Zone, r.Zone)
	}
}

// clusterOptions are the options every cluster set of cfg is built with.
func (s *Sidecar) clusterOptions(cfg *Config) []cluster.Option {
	opts := []cluster.Option{cluster.WithObserver(s.metrics)}
	if cfg != nil {
		opts = append(opts, cluster.WithLocality(cluster.Locality{Region: cfg.Locality.Region, Zone: cfg.Locality.Zone}))
	}
	return opts
}

// TierShare is one locality tier's share of a cluster's traffic now.
type TierShare struct {
	// Tier is zone (the sidecar's zone), region (its region, another
	// zone) or remote.
	Tier string `json:"tier"`
	// Endpoints in the tier, ejected ones included.
	Endpoints int `json:"endpoints"`
	// Percent of requests the tier receives now: 100 for the nearest
	// tier while at least 71.4 % of its endpoints are healthy.
	Percent float64 `json:"percent"`
}

// tierShares is how c spreads traffic over locality tiers now, nil when it
// is not locality-aware (the sidecar's locality unknown, or one tier).
func tierShares(c *cluster.Cluster) []TierShare {
	loads := c.TierLoads()
	if loads == nil {
		return nil
	}
	out := make([]TierShare, len(loads))
	for i, l := range loads {
		out[i] = TierShare{Tier: l.Tier.String(), Endpoints: l.Endpoints, Percent: float64(l.Share) / 100}
	}
	return out
}

// endpointTier names the i-th endpoint's tier when c is locality-aware.
func endpointTier(c *cluster.Cluster, tiered bool, i int) string {
	if !tiered {
		return ""
	}
	return c.EndpointTier(i).String()
}

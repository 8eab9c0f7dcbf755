package proxy

import (
	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// hasher gives the ring-hash key of the request being retried.
type hasher interface {
	hashKey(cl *cluster.Cluster) (uint64, bool)
}

// pickOther picks the endpoint for a retry: another than the one that
// failed where the cluster has another, as Envoy's previous-hosts
// predicate does (a few picks, then whatever the balancer gives).
func pickOther(cl *cluster.Cluster, failed *cluster.Endpoint, rnd uint64, hr hasher) *cluster.Endpoint {
	hash, hasHash := hr.hashKey(cl)
	for i := 0; i < 4; i++ {
		ep := cl.Pick(hash, hasHash)
		if ep != nil && ep != failed {
			return ep
		}
		hash, hasHash = rnd+uint64(i)*0x9e3779b97f4a7c15, false
	}
	if len(cl.Endpoints) > 1 {
		// The balancer keeps choosing the failed one (P2C favours it while
		// its latency looks good): step to its neighbour.
		for i, ep := range cl.Endpoints {
			if ep == failed {
				return cl.Endpoints[(i+1+int(rnd%uint64(len(cl.Endpoints)-1)))%len(cl.Endpoints)]
			}
		}
	}
	return failed
}

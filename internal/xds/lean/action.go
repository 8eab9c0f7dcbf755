package lean

import (
	"fmt"
	"math"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// RouteAction cluster_specifier members Weft maps.
const (
	specCluster  = 1
	specWeighted = 3
)

// actionMsg is a route.v3.RouteAction: the cluster_specifier oneof
// (cluster 1, cluster_header 2, weighted_clusters 3, cluster_specifier_plugin
// 37, inline_cluster_specifier_plugin 39), timeout 8, hash_policy 15.
type actionMsg struct {
	specKind    int // cluster 1, cluster_header 2, weighted_clusters 3, plugins 37, 39
	cluster     string
	header      string
	weighted    []backendMsg
	timeout     duration
	hashes      int
	hashInvalid error // the first hash policy that breaks Envoy's rules
}

// backendMsg is a WeightedCluster.ClusterWeight (name 1, weight 2,
// cluster_header 12), from WeightedCluster.clusters 1.
type backendMsg struct {
	name   string
	header string
	weight u32
}

func (a *actionMsg) merge(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, bytesT):
			a.specKind = specCluster
			a.cluster, err = str(f, "cluster", maxName)
		case f.is(2, bytesT):
			a.specKind = 2
			a.header, err = str(f, "cluster_header", maxName)
		case f.is(specWeighted, bytesT):
			if a.specKind != specWeighted {
				a.weighted = nil
			}
			a.specKind = specWeighted
			err = a.mergeWeighted(f.b)
		case f.is(37, bytesT), f.is(39, bytesT):
			a.specKind = int(f.num)
		case f.is(8, bytesT):
			err = a.timeout.merge(f.b)
		case f.is(15, bytesT):
			if a.hashes++; a.hashes > maxMatchers {
				return overLimit("hash_policy", maxMatchers)
			}
			if err := checkHashPolicy(f.b); err != nil && a.hashInvalid == nil {
				a.hashInvalid = fmt.Errorf("hash_policy[%d]: %w", a.hashes-1, err)
			}
		}
		return err
	})
}

func (a *actionMsg) mergeWeighted(b []byte) error {
	return walk(b, func(f field) error {
		if !f.is(1, bytesT) {
			return nil
		}
		if len(a.weighted) >= maxBackends {
			return overLimit("weighted_clusters", maxBackends)
		}
		var w backendMsg
		err := walk(f.b, func(f field) error {
			var err error
			switch {
			case f.is(1, bytesT):
				w.name, err = str(f, "name", maxName)
			case f.is(12, bytesT):
				w.header, err = str(f, "cluster_header", maxName)
			case f.is(2, bytesT):
				err = w.weight.merge(f.b)
			}
			return err
		})
		a.weighted = append(a.weighted, w)
		return err
	})
}

// toProxy checks Envoy's rules on the action, then maps the backends and
// timeout as client.ToProxy does. The hash policy is validated but, as in
// client.ToProxy, not mapped.
func (a *actionMsg) toProxy(out *route.Route) error {
	if a.hashInvalid != nil {
		return a.hashInvalid
	}
	out.Timeout = a.timeout.std()
	switch a.specKind {
	case 0:
		return invalid("cluster_specifier", "is required")
	case specCluster:
		if !nonEmpty(a.cluster) {
			return invalid("cluster", "must not be empty")
		}
		out.Backends = []route.Backend{{Cluster: a.cluster, Weight: 1}}
		return nil
	case 2:
		if !nonEmpty(a.header) || !headerSafe(a.header) {
			return invalid("cluster_header", "%q must be non-empty without NUL, CR or LF", a.header)
		}
	case specWeighted:
		return a.weightedToProxy(out)
	}
	return unsupported("cluster_specifier", "field %d", a.specKind)
}

// weightedToProxy maps weighted clusters. Envoy also rejects, in code, a
// nameless cluster and weights summing to 0 or past 2^32-1; client.ToProxy
// does not, so those checks are marked stricter.
func (a *actionMsg) weightedToProxy(out *route.Route) error {
	if len(a.weighted) == 0 {
		return invalid("weighted_clusters.clusters", "at least one is required")
	}
	var total uint64
	for i, w := range a.weighted {
		p := fmt.Sprintf("weighted_clusters.clusters[%d]", i)
		if !headerSafe(w.header) {
			return invalid(p+".cluster_header", "holds NUL, CR or LF")
		}
		if w.header != "" {
			return unsupported(p+".cluster_header", "clusters named by a header")
		}
		if w.name == "" {
			return stricter(p+".name", "must not be empty")
		}
		total += uint64(w.weight.v)
		out.Backends = append(out.Backends, route.Backend{Cluster: w.name, Weight: w.weight.v})
	}
	if total == 0 || total > math.MaxUint32 {
		return stricter("weighted_clusters", "weights sum to %d, want 1..%d", total, uint32(math.MaxUint32))
	}
	return nil
}

// checkHashPolicy applies Envoy's rules to a RouteAction.HashPolicy: one
// policy is set and the name it hashes on is not empty.
func checkHashPolicy(b []byte) error {
	kind := 0
	var name string
	err := walk(b, func(f field) error {
		var err error
		switch {
		case f.typ == bytesT && f.num >= 1 && f.num <= 6 && f.num != 4:
			if int(f.num) != kind {
				name = ""
			}
			kind = int(f.num)
			if kind == 3 {
				return nil // connection_properties has no name
			}
			err = walk(f.b, func(f field) error {
				var err error
				if f.is(1, bytesT) {
					name, err = str(f, "name", maxName)
				}
				return err
			})
		}
		return err
	})
	switch {
	case err != nil:
		return err
	case kind == 0:
		return invalid("policy_specifier", "is required")
	case kind != 3 && !nonEmpty(name):
		return invalid("policy_specifier", "the header, cookie, query parameter or key must not be empty")
	case kind == 1 && !headerSafe(name):
		return invalid("header.header_name", "holds NUL, CR or LF")
	}
	return nil
}

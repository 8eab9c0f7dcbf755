package client

import (
	"fmt"
	"math"

	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// actionToProxy checks Envoy's rules on a RouteAction, then maps the
// backends and timeout as xdstest.ToProxy does. The hash policy is
// validated but, as in xdstest.ToProxy, not mapped.
func actionToProxy(a *envoypb.RouteAction, out *route.Route) error {
	if len(a.GetHashPolicy()) > maxMatchers {
		return overLimit("hash_policy", maxMatchers)
	}
	for i, h := range a.GetHashPolicy() {
		if err := checkHashPolicy(h); err != nil {
			return fmt.Errorf("hash_policy[%d]: %w", i, err)
		}
	}
	if t := a.GetTimeout(); t != nil {
		out.Timeout = t.AsDuration()
	}
	if err := rewriteToProxy(a, out); err != nil {
		return err
	}
	if rp := a.GetRetryPolicy(); rp != nil {
		p, err := retryToProxy(rp)
		if err != nil {
			return fmt.Errorf("retry_policy: %w", err)
		}
		out.Retry = p
	}
	switch c := a.GetClusterNotFoundResponseCode(); c {
	case envoypb.RouteAction_SERVICE_UNAVAILABLE:
	case envoypb.RouteAction_NOT_FOUND:
		out.MissingClusterStatus = 404
	case envoypb.RouteAction_INTERNAL_SERVER_ERROR:
		out.MissingClusterStatus = 500
	default:
		return invalid("cluster_not_found_response_code", "undefined code %d", c)
	}
	switch s := a.GetClusterSpecifier().(type) {
	case nil:
		return invalid("cluster_specifier", "is required")
	case *envoypb.RouteAction_Cluster:
		if err := capped("cluster", s.Cluster, maxName); err != nil {
			return err
		}
		if !nonEmpty(s.Cluster) {
			return invalid("cluster", "must not be empty")
		}
		out.Backends = []route.Backend{{Cluster: s.Cluster, Weight: 1}}
		return nil
	case *envoypb.RouteAction_ClusterHeader:
		if !nonEmpty(s.ClusterHeader) || !headerSafe(s.ClusterHeader) {
			return invalid("cluster_header", "%q must be non-empty without NUL, CR or LF", s.ClusterHeader)
		}
		return unsupported("cluster_header", "clusters named by a header")
	case *envoypb.RouteAction_WeightedClusters:
		return weightedToProxy(s.WeightedClusters, out)
	}
	return unsupported("cluster_specifier", "cluster specifier plugins")
}

// weightedToProxy maps weighted clusters. Envoy also rejects, in code, a
// nameless cluster and weights summing to 0 or past 2^32-1; xdstest.ToProxy
// does not, so those checks are marked stricter.
func weightedToProxy(w *envoypb.WeightedCluster, out *route.Route) error {
	cs := w.GetClusters()
	switch {
	case len(cs) == 0:
		return invalid("weighted_clusters.clusters", "at least one is required")
	case len(cs) > maxBackends:
		return overLimit("weighted_clusters", maxBackends)
	}
	var total uint64
	for i, c := range cs {
		p := fmt.Sprintf("weighted_clusters.clusters[%d]", i)
		if err := capped(p+".name", c.GetName(), maxName); err != nil {
			return err
		}
		if !headerSafe(c.GetClusterHeader()) {
			return invalid(p+".cluster_header", "holds NUL, CR or LF")
		}
		if c.GetClusterHeader() != "" {
			return unsupported(p+".cluster_header", "clusters named by a header")
		}
		if c.GetName() == "" {
			return stricter(p+".name", "must not be empty")
		}
		weight := c.GetWeight().GetValue()
		total += uint64(weight)
		out.Backends = append(out.Backends, route.Backend{Cluster: c.GetName(), Weight: weight})
	}
	if total == 0 || total > math.MaxUint32 {
		return stricter("weighted_clusters", "weights sum to %d, want 1..%d", total, uint32(math.MaxUint32))
	}
	return nil
}

// checkHashPolicy applies Envoy's rules to a HashPolicy: one policy is set
// and the name it hashes on is not empty.
func checkHashPolicy(h *envoypb.RouteAction_HashPolicy) error {
	var name string
	switch p := h.GetPolicySpecifier().(type) {
	case nil:
		return invalid("policy_specifier", "is required")
	case *envoypb.RouteAction_HashPolicy_ConnectionProperties:
		return nil // it has no name
	case *envoypb.RouteAction_HashPolicy_Header_:
		name = p.Header.GetHeaderName()
		if nonEmpty(name) && !headerSafe(name) {
			return invalid("header.header_name", "holds NUL, CR or LF")
		}
	case *envoypb.RouteAction_HashPolicy_Cookie_:
		name = p.Cookie.GetName()
	case *envoypb.RouteAction_HashPolicy_QueryParameter_:
		name = p.QueryParameter.GetName()
	case *envoypb.RouteAction_HashPolicy_FilterState_:
		name = p.FilterState.GetKey()
	}
	if !nonEmpty(name) {
		return invalid("policy_specifier", "the header, cookie, query parameter or key must not be empty")
	}
	return nil
}

package translate

import (
	"regexp"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// grpcVirtualHost adapts a sidecar's virtual host, in place, to what a gRPC
// client's router implements (gRFC A28, A31), keeping the meaning of every
// rule for gRPC calls, which are always POSTs without a query string:
//   - the target's authority, listener, is one of the domains;
//   - a path-separated prefix, which gRPC would NACK, becomes the
//     equivalent full-match regex;
//   - a method match for POST always holds and is dropped; a rule that
//     needs another method or a query parameter never matches a gRPC
//     call, and goes;
//   - a request timeout becomes max_stream_duration, the field gRPC reads
//     (RouteAction.timeout means nothing to it);
//   - hash policies other than a header's, which gRPC ignores, go;
//   - per-filter configs (fault, rate limit) go: the API listener has no
//     such filters, and a gRPC client NACKs configs for filters it lacks.
//     Proxyless clients are neither delayed, aborted nor rate limited;
//   - path and host rewrites and mirror policies go: gRPC's router has
//     none (gRFC A28 reads neither), so a proxyless call goes unrewritten
//     and unmirrored; a redirect route stays, and gRPC fails the calls it
//     matches, as it does for any action but route.
func grpcVirtualHost(vh *routev3.VirtualHost, listener string) {
	vh.TypedPerFilterConfig = nil
	if !contains(vh.Domains, listener) {
		vh.Domains = append([]string{listener}, vh.Domains...)
	}
	kept := vh.Routes[:0]
	for _, r := range vh.Routes {
		if grpcRoute(r) {
			kept = append(kept, r)
		}
	}
	vh.Routes = kept
}

// grpcRoute adapts r and reports whether it can match a gRPC call.
func grpcRoute(r *routev3.Route) bool {
	r.TypedPerFilterConfig = nil
	m := r.GetMatch()
	if len(m.GetQueryParameters()) > 0 {
		return false
	}
	var headers []*routev3.HeaderMatcher
	for _, h := range m.Headers {
		if h.Name != ":method" {
			headers = append(headers, h)
			continue
		}
		if h.GetStringMatch().GetExact() != "POST" {
			return false
		}
	}
	m.Headers = headers
	if p, ok := m.PathSpecifier.(*routev3.RouteMatch_PathSeparatedPrefix); ok {
		prefix := strings.TrimSuffix(p.PathSeparatedPrefix, "/")
		m.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: &matcherv3.RegexMatcher{
			Regex: regexp.QuoteMeta(prefix) + "(/.*)?",
		}}
	}
	a := r.GetRoute()
	if a == nil {
		return true
	}
	a.PrefixRewrite, a.RegexRewrite, a.HostRewriteSpecifier, a.RequestMirrorPolicies = "", nil, nil, nil
	if a.Timeout != nil {
		a.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: a.Timeout}
		a.Timeout = nil
	}
	// A new slice: buildVirtualHost shares one policy list among routes.
	var hash []*routev3.RouteAction_HashPolicy
	for _, h := range a.HashPolicy {
		if h.GetHeader() != nil {
			hash = append(hash, h)
		}
	}
	a.HashPolicy = hash
	return true
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

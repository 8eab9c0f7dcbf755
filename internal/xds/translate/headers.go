package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weft-mesh/weft/internal/mesh"
)

// setHeaderModifiers puts a rule's RequestHeaderModifier and
// ResponseHeaderModifier filters on an Envoy route: Gateway API's set is
// OVERWRITE_IF_EXISTS_OR_ADD, add is APPEND_IF_EXISTS_OR_ADD, and remove
// the route's headers_to_remove (Envoy removes before it adds).
func setHeaderModifiers(r *routev3.Route, rule *mesh.HTTPRouteRule) {
	for _, f := range rule.Filters {
		switch {
		case f.Type == mesh.FilterRequestHeaderModifier && f.RequestHeaderModifier != nil:
			r.RequestHeadersToAdd = headerOptions(f.RequestHeaderModifier)
			r.RequestHeadersToRemove = f.RequestHeaderModifier.Remove
		case f.Type == mesh.FilterResponseHeaderModifier && f.ResponseHeaderModifier != nil:
			r.ResponseHeadersToAdd = headerOptions(f.ResponseHeaderModifier)
			r.ResponseHeadersToRemove = f.ResponseHeaderModifier.Remove
		}
	}
}

func headerOptions(m *mesh.HeaderModifier) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	opt := func(h mesh.HTTPHeader, a corev3.HeaderValueOption_HeaderAppendAction) {
		out = append(out, &corev3.HeaderValueOption{
			Header:         &corev3.HeaderValue{Key: h.Name, Value: h.Value},
			AppendAction:   a,
			KeepEmptyValue: h.Value == "",
		})
	}
	for _, h := range m.Set {
		opt(h, corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD)
	}
	for _, h := range m.Add {
		opt(h, corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD)
	}
	return out
}

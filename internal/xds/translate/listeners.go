package translate

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// OutboundListener names the listener the app's outbound HTTP goes
// through; OutboundPort is where transparent mode redirects it (the port
// Envoy-based meshes use, so existing redirect rules carry over).
const (
	OutboundListener = "outbound"
	OutboundPort     = 15001
)

// Filter names as Envoy registers them. Spelled out rather than taken from
// go-control-plane's wellknown package, which would pull its server and
// cache packages into every importer of translate.
const (
	hcmFilter    = "envoy.filters.network.http_connection_manager"
	routerFilter = "envoy.filters.http.router"
)

// buildOutboundListener is the one outbound HTTP listener. Its routes come
// by RDS, not inline, so a route change re-sends the RouteConfiguration
// alone and the listener (and the connections it owns) stays untouched.
func buildOutboundListener() (*listenerv3.Listener, error) {
	cfgs, names, err := listenerFilters()
	if err != nil {
		return nil, fmt.Errorf("translate listener %s: %w", OutboundListener, err)
	}
	var filters []*hcmv3.HttpFilter
	for i, c := range cfgs {
		filters = append(filters, &hcmv3.HttpFilter{Name: names[i], ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: c}})
	}
	hcm, err := rdsConnectionManager(OutboundListener, OutboundRoute, filters...)
	if err != nil {
		return nil, fmt.Errorf("translate listener %s: %w", OutboundListener, err)
	}
	return &listenerv3.Listener{
		Name: OutboundListener,
		Address: &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
			Protocol: corev3.SocketAddress_TCP, Address: "0.0.0.0",
			PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: OutboundPort},
		}}},
		FilterChains: []*listenerv3.FilterChain{{Filters: []*listenerv3.Filter{{
			Name:       hcmFilter,
			ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: hcm},
		}}}},
	}, nil
}

// rdsConnectionManager is an HTTP connection manager that fetches route
// by RDS over ADS and ends in the router filter: what both a sidecar's
// listener and a gRPC client's API listener hold (gRFC A27 requires the
// ADS config source and the router as the last filter).
// filters run before the router.
func rdsConnectionManager(statPrefix, route string, filters ...*hcmv3.HttpFilter) (*anypb.Any, error) {
	router, err := anypb.New(&routerv3.Router{})
	if err != nil {
		return nil, err
	}
	return anypb.New(&hcmv3.HttpConnectionManager{
		CodecType:  hcmv3.HttpConnectionManager_AUTO,
		StatPrefix: statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{
			ConfigSource: &corev3.ConfigSource{
				ResourceApiVersion:    corev3.ApiVersion_V3,
				ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
			},
			RouteConfigName: route,
		}},
		HttpFilters: append(filters, &hcmv3.HttpFilter{
			Name:       routerFilter,
			ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: router},
		}),
	})
}

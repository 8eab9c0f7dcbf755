package translate

import (
	"fmt"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weft-mesh/weft/internal/mesh"
)

// httpOptionsKey is where Envoy reads a cluster's upstream HTTP protocol.
const httpOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// LB policies map onto xDS: P2C_EWMA is LEAST_REQUEST (Envoy's power of two
// choices); Weft's proxy reads LEAST_REQUEST as P2C over peak-EWMA latency.
var lbPolicies = map[string]clusterv3.Cluster_LbPolicy{
	"":            clusterv3.Cluster_LEAST_REQUEST,
	"P2C_EWMA":    clusterv3.Cluster_LEAST_REQUEST,
	"ROUND_ROBIN": clusterv3.Cluster_ROUND_ROBIN,
	"RING_HASH":   clusterv3.Cluster_RING_HASH,
}

func buildCluster(name string, svc *mesh.Service, pol *mesh.TrafficPolicy) (*clusterv3.Cluster, error) {
	c := &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{
			EdsConfig: &corev3.ConfigSource{ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}}},
		},
		ConnectTimeout: durationpb.New(2 * time.Second),
		LbPolicy:       clusterv3.Cluster_LEAST_REQUEST,
		Metadata:       protocolMetadata(svc),
	}
	if opts := upstreamProtocol(svc); opts != nil {
		opts, err := anypb.New(opts)
		if err != nil {
			return nil, fmt.Errorf("translate cluster %s: %w", name, err)
		}
		c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpOptionsKey: opts}
	}
	if pol == nil {
		return c, nil
	}
	if lb := pol.Spec.LoadBalancer; lb != nil {
		c.LbPolicy = lbPolicies[lb.Type]
		if lb.LocalityAware != nil {
			c.CommonLbConfig = localityConfig(*lb.LocalityAware)
		}
	}
	if cp := pol.Spec.ConnectionPool; cp != nil {
		if d, err := time.ParseDuration(cp.ConnectTimeout); err == nil {
			c.ConnectTimeout = durationpb.New(d)
		}
		connectionLimits(c, cp)
		if d, err := time.ParseDuration(cp.IdleTimeout); err == nil {
			c.TypedExtensionProtocolOptions = withIdleTimeout(c.TypedExtensionProtocolOptions, d)
		}
	}
	if cb := pol.Spec.CircuitBreaker; cb != nil {
		circuitBreaker(c, cb)
	}
	// After circuitBreaker, which sets the thresholds the budget joins.
	if b := retryBudget(pol); b != nil {
		thresholds(c).RetryBudget = b
	}
	if od := pol.Spec.OutlierDetection; od != nil {
		c.OutlierDetection = outlierDetection(od)
	}
	return c, nil
}

// thresholds returns the cluster's default-priority thresholds, adding
// them when absent.
func thresholds(c *clusterv3.Cluster) *clusterv3.CircuitBreakers_Thresholds {
	cb := breakers(c)
	if len(cb.Thresholds) == 0 {
		cb.Thresholds = []*clusterv3.CircuitBreakers_Thresholds{{}}
	}
	return cb.Thresholds[0]
}

// withIdleTimeout sets common_http_protocol_options.idle_timeout in the
// cluster's HttpProtocolOptions, creating them if needed.
func withIdleTimeout(m map[string]*anypb.Any, d time.Duration) map[string]*anypb.Any {
	opts := &httpv3.HttpProtocolOptions{}
	if a := m[httpOptionsKey]; a != nil {
		a.UnmarshalTo(opts)
	} else {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
		}}
	}
	opts.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{IdleTimeout: durationpb.New(d)}
	a, err := anypb.New(opts)
	if err != nil {
		return m
	}
	if m == nil {
		m = map[string]*anypb.Any{}
	}
	m[httpOptionsKey] = a
	return m
}

// upstreamProtocol says which HTTP version a Service's cluster speaks:
// http2 and grpc ports force HTTP/2; http ports (the default) keep each
// request's version (use_downstream_protocol_config, in Envoy's terms);
// tcp-only Services have no HTTP options.
func upstreamProtocol(svc *mesh.Service) *httpv3.HttpProtocolOptions {
	hasHTTP := false
	for _, p := range svc.Spec.Ports {
		switch p.Protocol {
		case "http2", "grpc":
			return &httpv3.HttpProtocolOptions{
				UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
					ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
				}},
			}
		case "http", "":
			hasHTTP = true
		}
	}
	if !hasHTTP {
		return nil
	}
	return &httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
			HttpProtocolOptions:  &corev3.Http1ProtocolOptions{},
			Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
		}},
	}
}

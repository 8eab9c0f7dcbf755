package envoypb_test

import (
	"strings"
	"testing"

	// Envoy's schema, registered for the comparison.
	_ "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// renamed maps Weft's messages whose names differ from Envoy's.
var renamed = map[protoreflect.FullName]protoreflect.FullName{
	"weft.xds.envoy.v3.UpstreamHttpProtocolOptions":                    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
	"weft.xds.envoy.v3.UpstreamHttpProtocolOptions.ExplicitHttpConfig": "envoy.extensions.upstreams.http.v3.HttpProtocolOptions.ExplicitHttpConfig",
	"weft.xds.envoy.v3.Status":                                         "google.rpc.Status",
	"weft.xds.envoy.v3.RouteRetryPolicy":                               "envoy.config.route.v3.RetryPolicy",
	"weft.xds.envoy.v3.RouteRetryPolicy.RetryBackOff":                  "envoy.config.route.v3.RetryPolicy.RetryBackOff",
	"weft.xds.envoy.v3.RouteRetryPolicy.ResetHeader":                   "envoy.config.route.v3.RetryPolicy.ResetHeader",
	"weft.xds.envoy.v3.RouteRetryPolicy.RateLimitedRetryBackOff":       "envoy.config.route.v3.RetryPolicy.RateLimitedRetryBackOff",
	"weft.xds.envoy.v3.Percent":                                        "envoy.type.v3.Percent",
	"weft.xds.envoy.v3.ListenerFilter":                                 "envoy.config.listener.v3.Filter",
	"weft.xds.envoy.v3.SocketListenerFilter":                           "envoy.config.listener.v3.ListenerFilter",
	"weft.xds.envoy.v3.RBACFilter":                                     "envoy.extensions.filters.http.rbac.v3.RBAC",
}

// envoyPackages are where Envoy keeps the messages, tried in order.
var envoyPackages = []string{"envoy.config.core.v3", "envoy.type.matcher.v3", "envoy.config.route.v3", "envoy.config.cluster.v3",
	"envoy.config.endpoint.v3", "envoy.service.discovery.v3", "envoy.type.v3", "envoy.extensions.filters.http.fault.v3",
	"envoy.extensions.filters.common.fault.v3", "envoy.extensions.filters.http.local_ratelimit.v3",
	"envoy.extensions.transport_sockets.tls.v3", "envoy.config.listener.v3", "envoy.extensions.filters.network.http_connection_manager.v3", "envoy.config.rbac.v3"}

func envoyName(t *testing.T, w protoreflect.FullName) protoreflect.MessageDescriptor {
	t.Helper()
	if n, ok := renamed[w]; ok {
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(n)
		if err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		return d.(protoreflect.MessageDescriptor)
	}
	rel := strings.TrimPrefix(string(w), "weft.xds.envoy.v3.")
	for _, p := range envoyPackages {
		if d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(p + "." + rel)); err == nil {
			if md, ok := d.(protoreflect.MessageDescriptor); ok {
				return md
			}
		}
	}
	t.Fatalf("no Envoy message for %s", w)
	return nil
}

// Every field Weft declares has the number, name, cardinality and type
// Envoy's schema gives it (go-control-plane's descriptors, linked only
// into this test), so Envoy's bytes decode into Weft's types unchanged.
// Unread stands for any message.
func TestFieldsMatchEnvoy(t *testing.T) {
	roots := []protoreflect.MessageDescriptor{
		(&envoypb.Cluster{}).ProtoReflect().Descriptor(), (&envoypb.ClusterLoadAssignment{}).ProtoReflect().Descriptor(),
		(&envoypb.RouteConfiguration{}).ProtoReflect().Descriptor(), (&envoypb.UpstreamHttpProtocolOptions{}).ProtoReflect().Descriptor(),
		(&envoypb.DiscoveryRequest{}).ProtoReflect().Descriptor(), (&envoypb.DiscoveryResponse{}).ProtoReflect().Descriptor(),
		(&envoypb.HTTPFault{}).ProtoReflect().Descriptor(), (&envoypb.LocalRateLimit{}).ProtoReflect().Descriptor(),
		(&envoypb.Listener{}).ProtoReflect().Descriptor(), (&envoypb.HttpConnectionManager{}).ProtoReflect().Descriptor(),
		(&envoypb.RBACFilter{}).ProtoReflect().Descriptor(), (&envoypb.Secret{}).ProtoReflect().Descriptor(),
	}
	seen := map[protoreflect.FullName]bool{}
	var check func(w protoreflect.MessageDescriptor)
	check = func(w protoreflect.MessageDescriptor) {
		if seen[w.FullName()] || !strings.HasPrefix(string(w.FullName()), "weft.") || w.FullName() == "weft.xds.envoy.v3.Unread" || w.IsMapEntry() {
			return
		}
		seen[w.FullName()] = true
		e := envoyName(t, w.FullName())
		fields := w.Fields()
		for i := range fields.Len() {
			wf := fields.Get(i)
			ef := e.Fields().ByNumber(wf.Number())
			switch {
			case ef == nil:
				t.Errorf("%s.%s: field %d not in %s", w.FullName(), wf.Name(), wf.Number(), e.FullName())
				continue
			case ef.Name() != wf.Name():
				t.Errorf("%s field %d is %s, Envoy's %s", w.FullName(), wf.Number(), wf.Name(), ef.Name())
			case ef.Kind() != wf.Kind() || ef.Cardinality() != wf.Cardinality() || ef.IsMap() != wf.IsMap():
				t.Errorf("%s.%s: %v %v, Envoy's %v %v", w.FullName(), wf.Name(), wf.Cardinality(), wf.Kind(), ef.Cardinality(), ef.Kind())
			case (ef.ContainingOneof() == nil) != (wf.ContainingOneof() == nil):
				t.Errorf("%s.%s: oneof membership differs from Envoy's", w.FullName(), wf.Name())
			}
			switch {
			case wf.IsMap():
				wv, ev := wf.MapValue(), ef.MapValue()
				if wv.Message() != nil && !strings.HasPrefix(string(wv.Message().FullName()), "weft.") && wv.Message().FullName() != ev.Message().FullName() {
					t.Errorf("%s.%s: map of %s, Envoy's %s", w.FullName(), wf.Name(), wv.Message().FullName(), ev.Message().FullName())
				}
			case wf.Message() != nil && wf.Message().FullName() == "weft.xds.envoy.v3.Unread":
			case wf.Message() != nil && !strings.HasPrefix(string(wf.Message().FullName()), "weft."):
				if wf.Message().FullName() != ef.Message().FullName() {
					t.Errorf("%s.%s: %s, Envoy's %s", w.FullName(), wf.Name(), wf.Message().FullName(), ef.Message().FullName())
				}
			case wf.Message() != nil:
				if got, want := envoyName(t, wf.Message().FullName()).FullName(), ef.Message().FullName(); got != want {
					t.Errorf("%s.%s: stands for %s, Envoy's field is %s", w.FullName(), wf.Name(), got, want)
				}
				check(wf.Message())
			case wf.Enum() != nil:
				for j := range wf.Enum().Values().Len() {
					v := wf.Enum().Values().Get(j)
					if ev := ef.Enum().Values().ByNumber(v.Number()); ev == nil || ev.Name() != v.Name() {
						t.Errorf("%s.%s: enum value %s = %d differs from Envoy's", w.FullName(), wf.Name(), v.Name(), v.Number())
					}
				}
			}
		}
	}
	for _, r := range roots {
		check(r)
	}
	if len(seen) < 25 {
		t.Fatalf("checked only %d messages", len(seen))
	}
}

package client

import (
	"errors"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// permissiveListener is the translated inbound listener of a PERMISSIVE
// Service: a tls and a raw_buffer chain behind the TLS inspector.
func permissiveListener(t *testing.T) *listenerv3.Listener {
	t.Helper()
	rs, err := mesh.Decode([]byte(`[{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"},
  "spec": {"ports": [{"port": 80}], "mtls": {"mode": "PERMISSIVE"}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := translate.Translate(translate.Input{Resources: rs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range snap.Listeners {
		if l.Name == translate.InboundListenerName("default", "catalog") {
			return l
		}
	}
	t.Fatal("no inbound listener")
	return nil
}

// Every shape of chains and listener filters the sidecar could not honour
// as one mode is NACKed, naming the field; none is read as some mode.
func TestInboundMTLSRefuses(t *testing.T) {
	for _, c := range []struct {
		name   string
		change func(l *listenerv3.Listener)
		want   error
	}{
		{"plaintext only", func(l *listenerv3.Listener) { l.FilterChains = l.FilterChains[1:] }, ErrUnsupported},
		{"no TLS inspector", func(l *listenerv3.Listener) { l.ListenerFilters = nil }, ErrInvalid},
		{"inspector options", func(l *listenerv3.Listener) {
			a, _ := anypb.New(wrapperspb.Bool(true))
			l.ListenerFilters[0].GetTypedConfig().Value = a.Value
		}, ErrUnsupported},
		{"other listener filter", func(l *listenerv3.Listener) { l.ListenerFilters[0].Name = "envoy.filters.listener.http_inspector" }, ErrUnsupported},
		{"server names", func(l *listenerv3.Listener) { l.FilterChains[0].FilterChainMatch.ServerNames = []string{"catalog"} }, ErrUnsupported},
		{"source type", func(l *listenerv3.Listener) {
			l.FilterChains[1].FilterChainMatch.SourceType = listenerv3.FilterChainMatch_EXTERNAL
		}, ErrUnsupported},
		{"other transport", func(l *listenerv3.Listener) { l.FilterChains[1].FilterChainMatch.TransportProtocol = "quic" }, ErrUnsupported},
		{"duplicate transport", func(l *listenerv3.Listener) { l.FilterChains[1].FilterChainMatch.TransportProtocol = "tls" }, ErrInvalid},
		{"catch-all beside tls", func(l *listenerv3.Listener) { l.FilterChains[1].FilterChainMatch = nil }, ErrUnsupported},
		{"filters differ", func(l *listenerv3.Listener) {
			f := proto.Clone(l.FilterChains[1].Filters[0]).(*listenerv3.Filter)
			f.Name = "other"
			l.FilterChains[1].Filters = []*listenerv3.Filter{f}
		}, ErrUnsupported},
		{"three chains", func(l *listenerv3.Listener) { l.FilterChains = append(l.FilterChains, l.FilterChains[0]) }, ErrUnsupported},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := permissiveListener(t)
			if _, in, err := decodeListener(marshal(t, l)); err != nil || in.mtls != MTLSPermissive {
				t.Fatalf("baseline: mtls %q, err %v", in.mtls, err)
			}
			c.change(l)
			_, in, err := decodeListener(marshal(t, l))
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v (mtls %q), want %v", err, in.mtls, c.want)
			}
		})
	}
}

package server

import (
	"bytes"
	"testing"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/protobuf/proto"
)

// The codec's shared-bytes path must put on the wire exactly what
// proto.Marshal would, and decode back to the full response.
func TestCodecSendsSharedBytesVerbatim(t *testing.T) {
	res, err := Marshal("7", snapshot("a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	ts := res.types[eds]
	cd := codec{std: encoding.GetCodecV2(grpcproto.Name)}
	for name, tc := range map[string]struct {
		resp   *discoveryv3.DiscoveryResponse
		shared bool
	}{
		"all names, shared":   {ts.response(eds, []string{"a", "b", "c"}, "42"), true},
		"empty nonce, shared": {ts.response(eds, ts.names, ""), true},
		"subset, plain":       {ts.response(eds, []string{"b"}, "43"), false},
		"other field, plain": {func() *discoveryv3.DiscoveryResponse {
			r := ts.response(eds, ts.names, "44")
			r.Canary = true
			return r
		}(), false},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := proto.Marshal(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			data, err := cd.Marshal(tc.resp)
			if err != nil {
				t.Fatal(err)
			}
			if got := data.Materialize(); !bytes.Equal(got, want) {
				t.Fatalf("codec bytes differ from proto.Marshal")
			}
			if shared := len(data) == 2 && len(data[1].ReadOnlyData()) > 0 && &data[1].ReadOnlyData()[0] == &ts.encoded[0]; shared != tc.shared {
				t.Fatalf("shared path = %v, want %v", shared, tc.shared)
			}
			var back discoveryv3.DiscoveryResponse
			if err := proto.Unmarshal(want, &back); err != nil {
				t.Fatal(err)
			}
			if back.VersionInfo != "7" || back.TypeUrl != EndpointType || back.Nonce != tc.resp.Nonce {
				t.Fatalf("decoded %v", &back)
			}
		})
	}
}

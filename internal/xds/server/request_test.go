package server

import (
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

func testIntern(t testing.TB) (*Resources, map[string]nameRef) {
	t.Helper()
	res, err := Marshal("1", snapshot("a", "b", "c"))
	if err != nil {
		t.Fatal(err)
	}
	return res, res.intern
}

func wire(t testing.TB, r *discoveryv3.DiscoveryRequest) []byte {
	t.Helper()
	b, err := proto.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeRequestSharesTheConfigsNames(t *testing.T) {
	res, intern := testIntern(t)
	for name, tc := range map[string]struct {
		names  []string
		shared bool
	}{
		"all, in order":  {[]string{"a", "b", "c"}, true},
		"a prefix":       {[]string{"a", "b"}, true},
		"out of order":   {[]string{"b", "a"}, false},
		"an unknown one": {[]string{"a", "zz"}, false},
		"none":           {nil, false},
	} {
		t.Run(name, func(t *testing.T) {
			in := &discoveryv3.DiscoveryRequest{TypeUrl: EndpointType, VersionInfo: "1", ResponseNonce: "3", ResourceNames: tc.names}
			var got discoveryv3.DiscoveryRequest
			if err := decodeRequest(wire(t, in), &got, intern); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&got, in) {
				t.Fatalf("decoded %v, want %v", &got, in)
			}
			shared := len(got.ResourceNames) > 0 && &got.ResourceNames[0] == &res.types[eds].names[0]
			if shared != tc.shared {
				t.Fatalf("shared = %v, want %v", shared, tc.shared)
			}
			if shared && cap(got.ResourceNames) != len(got.ResourceNames) {
				t.Fatal("a shared list must be capped so appends copy")
			}
		})
	}
}

// FuzzDecodeRequest checks decodeRequest against proto.Unmarshal, the
// decoder it stands in for at the trust boundary: both fail, or both give
// the same message.
func FuzzDecodeRequest(f *testing.F) {
	full := &discoveryv3.DiscoveryRequest{
		Node: &corev3.Node{Id: "n1", Cluster: "c"}, TypeUrl: EndpointType, VersionInfo: "1",
		ResourceNames: []string{"a", "b", "c"}, ResponseNonce: "9",
		ErrorDetail: &status.Status{Code: 3, Message: "bad"},
	}
	f.Add(wire(f, full))
	f.Add(wire(f, &discoveryv3.DiscoveryRequest{TypeUrl: ClusterType}))
	f.Add(wire(f, &discoveryv3.DiscoveryRequest{ResourceNames: []string{"c", "x", "a"}}))
	// Names split by other fields, a repeated node, and a name of invalid UTF-8.
	var b []byte
	b = protowire.AppendTag(b, resourceNamesField, protowire.BytesType)
	b = protowire.AppendString(b, "a")
	b = append(b, wire(f, &discoveryv3.DiscoveryRequest{VersionInfo: "2", Node: &corev3.Node{Id: "x"}})...)
	b = protowire.AppendTag(b, resourceNamesField, protowire.BytesType)
	b = protowire.AppendString(b, "b")
	b = append(b, wire(f, &discoveryv3.DiscoveryRequest{Node: &corev3.Node{Cluster: "y"}})...)
	f.Add(b)
	f.Add(protowire.AppendString(protowire.AppendTag(nil, resourceNamesField, protowire.BytesType), "\xff"))
	// resource_names with the wrong wire type, and a truncated field.
	f.Add(protowire.AppendVarint(protowire.AppendTag(nil, resourceNamesField, protowire.VarintType), 7))
	f.Add(wire(f, full)[:5])
	_, intern := testIntern(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var got, want discoveryv3.DiscoveryRequest
		gotErr := decodeRequest(b, &got, intern)
		wantErr := proto.Unmarshal(b, &want)
		if (gotErr != nil) != (wantErr != nil) {
			t.Fatalf("decodeRequest error %v, proto.Unmarshal error %v", gotErr, wantErr)
		}
		if gotErr == nil && !proto.Equal(&got, &want) {
			t.Fatalf("decodeRequest %v, proto.Unmarshal %v", &got, &want)
		}
	})
}

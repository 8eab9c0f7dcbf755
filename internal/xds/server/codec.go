package server

import (
	"fmt"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	grpcproto "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// A push sends the same resources to every stream; only the nonce differs.
// So each type's response is encoded once, without its nonce, and a stream
// sends a DiscoveryResponse that holds just its nonce plus those bytes as
// unknown fields. proto.Marshal copies unknown fields verbatim, so the wire
// bytes are exactly those of the full response: any codec sends it
// correctly, and the proxy cannot tell. With ServerOptions the codec also
// skips that copy and hands gRPC the shared bytes themselves.

// encode renders the nonce-less response for the whole type.
func (ts *typeSet) encode(t int) ([]byte, error) {
	b, err := deterministic.Marshal(&discoveryv3.DiscoveryResponse{VersionInfo: ts.version, TypeUrl: typeURLs[t], Resources: ts.all})
	if err != nil {
		return nil, fmt.Errorf("encode %s response: %w", shortTypes[t], err)
	}
	// Capped, so that anything appending to a message's unknown fields
	// copies rather than writing into the bytes every stream shares.
	return b[:len(b):len(b)], nil
}

// response is what a subscription to names gets, with its nonce.
func (ts *typeSet) response(t int, names []string, nonce string) *discoveryv3.DiscoveryResponse {
	r := &discoveryv3.DiscoveryResponse{Nonce: nonce}
	if (len(names) == 0 && wildcard[t]) || equalStrings(names, ts.names) {
		r.ProtoReflect().SetUnknown(ts.encoded)
		return r
	}
	// A partial subscription is rare: build its response the plain way.
	r.VersionInfo, r.TypeUrl, r.Resources = ts.version, typeURLs[t], ts.pick(wildcard[t], names)
	return r
}

// nonceField is DiscoveryResponse.nonce's field number.
var nonceField = (&discoveryv3.DiscoveryResponse{}).ProtoReflect().Descriptor().Fields().ByName("nonce").Number()

// ServerOptions are the options a grpc.Server serving s should be created
// with: a codec that sends each stream's response without copying the
// shared bytes into a buffer of its own, and decodes requests against the
// config's own names (request.go). Measured at 10,000 proxies
// (docs/CPBENCH.md), per-stream marshalling was about a fifth of the
// server's CPU per push and decoding the names about a sixth. Without the
// options everything still works, only slower. Other services on the same
// grpc.Server are unaffected: the codec hands them to gRPC's own.
func (s *Server) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{grpc.ForceServerCodecV2(codec{std: encoding.GetCodecV2(grpcproto.Name), srv: s})}
}

// codec is gRPC's proto codec, except for responses made by response and
// for requests.
type codec struct {
	std encoding.CodecV2
	srv *Server
}

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	if r, ok := v.(*discoveryv3.DiscoveryResponse); ok {
		if shared := r.ProtoReflect().GetUnknown(); len(shared) > 0 {
			var head []byte
			if r.Nonce != "" {
				head = protowire.AppendString(protowire.AppendTag(nil, nonceField, protowire.BytesType), r.Nonce)
			}
			// Only when the nonce is the sole known field are these two
			// pieces the whole message, in the order proto.Marshal uses.
			if proto.Size(r) == len(head)+len(shared) {
				// SliceBuffers are never recycled, so gRPC cannot hand the
				// shared bytes to a pool when it is done writing them.
				return mem.BufferSlice{mem.SliceBuffer(head), mem.SliceBuffer(shared)}, nil
			}
		}
	}
	return c.std.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	r, ok := v.(*discoveryv3.DiscoveryRequest)
	if !ok || c.srv == nil {
		return c.std.Unmarshal(data, v)
	}
	var intern map[string]nameRef
	if res := c.srv.resourcesFor(""); res != nil {
		intern = res.intern
	}
	buf := data.MaterializeToBuffer(mem.DefaultBufferPool())
	defer buf.Free()
	return decodeRequest(buf.ReadOnlyData(), r, intern)
}

func (c codec) Name() string { return grpcproto.Name }

package lean

import (
	"context"
	"errors"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// adsMethod is the ADS bidi stream. It is opened by name with a raw codec,
// so grpc never needs the generated service or message types.
const adsMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

var adsDesc = grpc.StreamDesc{StreamName: "StreamAggregatedResources", ServerStreams: true, ClientStreams: true}

// rawCodec passes protobuf bytes through. It is named "proto" so requests
// carry content-type application/grpc+proto and the server decodes them
// with its usual codec.
type rawCodec struct{}

var _ encoding.CodecV2 = rawCodec{}

var errCodecType = errors.New("raw codec: want []byte or *[]byte")

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.([]byte)
	if !ok {
		return nil, fmt.Errorf("marshal %T: %w", v, errCodecType)
	}
	return mem.BufferSlice{mem.SliceBuffer(b)}, nil
}

// Unmarshal copies the message out: grpc frees data when this returns.
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("unmarshal into %T: %w", v, errCodecType)
	}
	*p = data.Materialize()
	return nil
}

// adsStream is one open ADS stream.
type adsStream struct{ cs grpc.ClientStream }

func openADS(ctx context.Context, conn grpc.ClientConnInterface) (*adsStream, error) {
	cs, err := conn.NewStream(ctx, &adsDesc, adsMethod, grpc.ForceCodecV2(rawCodec{}))
	if err != nil {
		return nil, fmt.Errorf("open ads stream: %w", err)
	}
	return &adsStream{cs: cs}, nil
}

func (s *adsStream) send(r *request) error {
	if err := s.cs.SendMsg(r.encode()); err != nil {
		return fmt.Errorf("ads send: %w", err)
	}
	return nil
}

func (s *adsStream) recv() (response, error) {
	var b []byte
	if err := s.cs.RecvMsg(&b); err != nil {
		return response{}, fmt.Errorf("ads recv: %w", err)
	}
	return decodeResponse(b)
}

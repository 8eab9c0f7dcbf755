package client

import (
	"context"
	"fmt"
)

// adsMethod is the ADS bidi stream, called by name: the client needs no
// generated service stubs, only the message types in envoypb.
const adsMethod = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

// adsStream is one open ADS stream: discovery requests out, responses in.
type adsStream struct{ g *grpcStream }

func (c *Client) openADS(ctx context.Context, server string) (*adsStream, error) {
	g, err := c.tr.open(ctx, server, adsMethod)
	if err != nil {
		return nil, fmt.Errorf("open ads stream: %w", err)
	}
	return &adsStream{g: g}, nil
}

func (s *adsStream) send(r *request) error {
	b, err := r.encode()
	if err != nil {
		return fmt.Errorf("ads send: %w", err)
	}
	if err := s.g.send(b); err != nil {
		return fmt.Errorf("ads send: %w", err)
	}
	return nil
}

func (s *adsStream) recv() (response, error) {
	b, err := s.g.recv()
	if err != nil {
		return response{}, fmt.Errorf("ads recv: %w", err)
	}
	return decodeResponse(b)
}

func (s *adsStream) close() { s.g.close() }

package client

import (
	"context"
	"fmt"
)

// ackOrder is the order in which a successful apply ACKs the other types.
var ackOrder = []string{clusterType, endpointType, listenerType, routeType}

// stream runs one ADS stream: CDS by wildcard, EDS for the clusters
// received, RDS for the outbound routes. Each response is decoded, then
// the config is applied once complete, then the response is ACKed, or
// NACKed with the error while the state rolls back to before it, so a
// rejected push neither reaches the proxy nor leaks into the next update.
func (c *Client) stream(ctx context.Context, server string) error {
	s, err := c.openADS(ctx, server)
	if err != nil {
		return err
	}
	defer s.close()
	if o := c.cfg.Observer; o != nil {
		o.StreamUp(server)
		defer o.StreamDown(server)
	}
	st := newState()
	st.inbound = c.cfg.Inbound
	st.bundleName = c.cfg.TrustBundle
	send := func(typ string, nack error) error {
		r := &request{node: c.cfg.Node, region: c.cfg.Region, zone: c.cfg.Zone, services: c.servicesJoined(), typeURL: typ, names: st.names(typ),
			version: st.accepted[typ], nonce: st.nonce[typ]}
		if nack != nil {
			r.errorMsg = nack.Error()
		}
		return s.send(r)
	}
	if err := send(clusterType, nil); err != nil {
		return err
	}
	if err := send(routeType, nil); err != nil {
		return err
	}
	if st.inbound != "" {
		if err := send(listenerType, nil); err != nil {
			return err
		}
	}
	if st.bundleName != "" {
		if err := send(secretType, nil); err != nil {
			return err
		}
	}
	for {
		resp, err := s.recv()
		if err != nil {
			return err
		}
		if err := c.handle(st, &resp, send); err != nil {
			return err
		}
	}
}

// handle processes one response and answers it.
func (c *Client) handle(st *state, resp *response, send func(string, error) error) error {
	typ := resp.typeURL
	st.version[typ], st.nonce[typ] = resp.version, resp.nonce
	if !st.known(typ) {
		st.accepted[typ] = resp.version
		return send(typ, nil)
	}
	if typ == secretType {
		return c.handleBundle(st, resp, send)
	}
	saved := st.save()
	if err := st.absorb(resp); err != nil {
		st.restore(saved)
		st.version[typ] = st.accepted[typ]
		c.log.Warn("rejecting malformed push", "type", typ, "version", resp.version, "err", err)
		c.nacked(typ)
		return send(typ, err)
	}
	if typ == clusterType {
		// Ask for exactly the endpoints of the clusters now held.
		if err := send(endpointType, nil); err != nil {
			return err
		}
	}
	var applyErr error
	if u, ok := st.update(); ok {
		if err := c.cfg.Apply(u); err != nil {
			applyErr = fmt.Errorf("apply version %s: %w", u.Version, err)
		}
	}
	if applyErr != nil {
		st.restore(saved)
		st.version[typ] = st.accepted[typ]
		c.log.Warn("config rejected; keeping the running one", "type", typ, "version", resp.version, "err", applyErr)
		c.nacked(typ)
		return send(typ, applyErr)
	}
	st.accepted[typ] = resp.version
	// The state now holds every type's latest content: ACK the others too,
	// clearing NACKs that a combination with a stale type caused.
	for _, other := range ackOrder {
		if other == typ || st.nonce[other] == "" || st.accepted[other] == st.version[other] {
			continue
		}
		st.accepted[other] = st.version[other]
		if err := send(other, nil); err != nil {
			return err
		}
	}
	return send(typ, nil)
}

func (c *Client) nacked(typ string) {
	if o := c.cfg.Observer; o != nil {
		o.Nacked(typ)
	}
}

// handleBundle processes an SDS push on its own: the trust bundle is not
// part of the routing config, so it neither waits for nor rebuilds it.
func (c *Client) handleBundle(st *state, resp *response, send func(string, error) error) error {
	prev := st.bundle
	err := st.absorb(resp)
	if err == nil && st.bundle != prev && c.cfg.OnTrustBundle != nil {
		if aerr := c.cfg.OnTrustBundle(st.bundle.roots); aerr != nil {
			err = fmt.Errorf("apply trust bundle version %s: %w", resp.version, aerr)
		}
	}
	if err != nil {
		st.bundle = prev
		st.version[secretType] = st.accepted[secretType]
		c.log.Warn("trust bundle rejected; keeping the current one", "version", resp.version, "err", err)
		c.nacked(secretType)
		return send(secretType, err)
	}
	st.accepted[secretType] = resp.version
	return send(secretType, nil)
}

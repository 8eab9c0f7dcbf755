package client

import (
	"context"
	"strings"
	"sync/atomic"
)

// Want replaces the declared services, for a sidecar that learns them from
// its traffic. The node metadata carrying them is read when a stream opens,
// so the client reopens its stream at once on the same replica (no
// backoff); the control plane then sends the new scope's config.
func (c *Client) Want(services []string) {
	joined := strings.Join(services, ",")
	c.services.Store(&joined)
	select {
	case c.resub <- struct{}{}:
	default: // a reopen is already pending and will read the new list
	}
}

func (c *Client) servicesJoined() string {
	if p := c.services.Load(); p != nil {
		return *p
	}
	return ""
}

// watchResub cancels a stream when Want asks for a reopen; it reports
// whether it did.
func (c *Client) watchResub(ctx context.Context, cancel context.CancelFunc) (wasResub func() bool, stop func()) {
	var hit atomic.Bool
	done := make(chan struct{})
	go func() {
		select {
		case <-c.resub:
			hit.Store(true)
			cancel()
		case <-done:
		case <-ctx.Done():
		}
	}()
	return hit.Load, func() { close(done) }
}

package client

import (
	"context"
	"net/http"

	"github.com/weft-mesh/weft/internal/api"
)

// Stats returns the mesh's golden signals, per service version and per
// edge, over the control plane's window.
func (c *Client) Stats(ctx context.Context) (api.Stats, error) {
	var r api.Stats
	err := c.do(ctx, http.MethodGet, "/stats", nil, &r)
	return r, err
}

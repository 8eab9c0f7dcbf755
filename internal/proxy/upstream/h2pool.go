package upstream

import (
	"errors"
	"net/http"
)

// H2Pool multiplexes requests to one endpoint over a few HTTP/2 connections
// (h2c, or h2 via ALPN when Config.TLS is set).
type H2Pool struct {
	cfg Config
}

// NewH2Pool returns a pool that dials on demand.
func NewH2Pool(cfg Config) *H2Pool {
	cfg.defaults()
	return &H2Pool{cfg: cfg}
}

// RoundTrip sends req on a multiplexed connection.
func (p *H2Pool) RoundTrip(req *http.Request) (*http.Response, error) {
	return nil, errors.New("upstream: h2 not implemented")
}

// Close closes idle connections; streams in flight finish.
func (p *H2Pool) Close() {}

package proxy

import (
	"context"
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/listener"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// connectRouted serves a CONNECT to an HTTP mesh service the way an
// outbound port bound to that service would: clients such as grpc-go send
// `CONNECT catalog:80` through HTTPS_PROXY, and an opaque tunnel pinned to
// one endpoint would bypass weights, header routes and request metrics.
// After the 200 it sniffs what the client speaks inside: HTTP/1 requests
// continue on this connection, each routed as if addressed to the service;
// HTTP/2 (gRPC included) goes to an HTTP/2 engine with the same host
// forced; TLS or anything else cannot be routed, and is tunnelled to ep.
func (hc *h1conn) connectRouted(cl *cluster.Cluster, ep *cluster.Endpoint, rt *route.Route, start time.Time) bool {
	h := hc.h
	hc.bw.WriteString("HTTP/1.1 200 Connection Established\r\n\r\n")
	if err := hc.bw.Flush(); err != nil {
		return false
	}
	// Until its first bytes the client is idle, like a keep-alive
	// connection between requests.
	hc.setPhase(phaseIdle, h.cfg.IdleTimeout)
	kind, ok := hc.sniffTunnel()
	if !ok {
		return false
	}
	switch kind {
	case listener.SniffHTTP1:
		hc.tunnelHost = append(hc.tunnelHost[:0], hc.hostBuf...)
		hc.forceHost = hc.tunnelHost
		return !hc.h.draining.Load()
	case listener.SniffHTTP2:
		n := hc.br.Buffered()
		b, _ := hc.br.Peek(n)
		seen := append([]byte(nil), b...) // br goes back to its pool when this returns
		hc.br.Discard(n)
		hc.setPhase(phaseTunnel, 0) // the HTTP/2 engine keeps its own timeouts
		h.connectH2().ServeConnAs(context.Background(), listener.Replay(hc.c, seen), string(hc.hostBuf))
		return false
	}
	return hc.tunnel(cl, ep, rt, start, true)
}

// sniffTunnel reads the tunnel's first bytes (kept buffered for whoever
// serves them) until listener.Classify decides; ok is false when the
// client left or timed out first.
func (hc *h1conn) sniffTunnel() (listener.Sniffed, bool) {
	for n := 1; ; n++ {
		if _, err := hc.br.Peek(n); err != nil {
			return listener.SniffMore, false
		}
		n = max(n, hc.br.Buffered())
		b, _ := hc.br.Peek(min(n, listener.SniffLen))
		if k := listener.Classify(b); k != listener.SniffMore {
			return k, true
		}
		if n >= listener.SniffLen {
			return listener.SniffHTTP1, true // a long request line, as the listener decides
		}
	}
}

// connectH2 returns the engine that serves HTTP/2 inside this engine's
// CONNECT tunnels, made on first use with this engine's settings.
func (h *HTTP1) connectH2() *HTTP2 {
	if e := h.tunnelH2.Load(); e != nil {
		return e
	}
	h.tunnelMu.Lock()
	defer h.tunnelMu.Unlock()
	if e := h.tunnelH2.Load(); e != nil {
		return e
	}
	e := NewHTTP2(HTTP2Config{
		Name: h.cfg.Name + "/connect", Direction: h.cfg.Direction, Runtime: h.cfg.Runtime, OnMiss: h.cfg.OnMiss,
		MaxHeaderBytes: h.cfg.MaxHeaderBytes, IdleTimeout: h.cfg.IdleTimeout, RequestTimeout: h.cfg.RequestTimeout,
		TrustForwarded: h.cfg.TrustForwarded, Metrics: h.cfg.Metrics, Logger: h.cfg.Logger,
	})
	h.tunnelH2.Store(e)
	return e
}

// forceHostKey carries, in an HTTP/2 connection's context, the host every
// request on it is routed to (see ServeConnAs).
type forceHostKey struct{}

// ServeConnAs serves one HTTP/2 connection whose every request is routed
// as if addressed to host: a CONNECT tunnel opened to that mesh service.
func (h *HTTP2) ServeConnAs(ctx context.Context, c net.Conn, host string) {
	h.ServeConn(context.WithValue(ctx, forceHostKey{}, host), c)
}

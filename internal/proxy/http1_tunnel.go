package proxy

import (
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/listener"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
)

// connect serves CONNECT host:port: the authority was routed like any
// request, so a tunnel reaches only a mesh service, never an arbitrary
// address. The connection becomes an opaque tunnel to the chosen endpoint.
func (hc *h1conn) connect(cl *cluster.Cluster, ep *cluster.Endpoint, rt *route.Route, start time.Time) bool {
	h := hc.h
	if h.cfg.Direction != "outbound" {
		return hc.reject(405, cl.Config.Name, rt.Name, start)
	}
	began := ep.Begin()
	timeout := cl.Config.ConnectTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	up, err := net.DialTimeout("tcp", ep.Address, timeout)
	if err != nil {
		ep.End(began, true)
		return hc.reject(502, cl.Config.Name, rt.Name, start)
	}
	defer up.Close()
	hc.bw.WriteString("HTTP/1.1 200 Connection Established\r\n\r\n")
	if err := hc.bw.Flush(); err != nil {
		ep.End(began, true)
		return false
	}
	h.cfg.Metrics.ObserveRequest(h.cfg.Direction, cl.Config.Name, rt.Name, 200, time.Since(start))
	hc.setPhase(phaseTunnel, 0)
	// Bytes the client sent right behind the request (a TLS ClientHello)
	// are already buffered: forward them before splicing the sockets.
	if n := hc.br.Buffered(); n > 0 {
		b, _ := hc.br.Peek(n)
		if _, err := up.Write(b); err != nil {
			ep.End(began, true)
			return false
		}
		hc.br.Discard(n)
	}
	_ = listener.Pipe(hc.c, up, h.cfg.TunnelIdleTimeout) // how a tunnel ends is not the endpoint's failure
	ep.End(began, false)
	return false
}

// upgraded relays a 101 response and turns the exchange into a tunnel
// (WebSocket). The client asked for it (req.Upgrade); h2c never gets here.
func (hc *h1conn) upgraded(uc *upstream.Conn, ep *cluster.Endpoint, began time.Time, cl *cluster.Cluster, rt *route.Route, start time.Time) bool {
	h := hc.h
	defer func() {
		hc.up.Store(nil)
		ep.Pool.Discard(uc)
	}()
	if hc.req.Upgrade == nil {
		ep.End(began, true)
		hc.writeError(502, true)
		h.cfg.Metrics.ObserveRequest(h.cfg.Direction, cl.Config.Name, rt.Name, 502, time.Since(start))
		return false
	}
	hc.writeResponseHead(false, false)
	if n := uc.R.Buffered(); n > 0 {
		b, _ := uc.R.Peek(n)
		hc.bw.Write(b)
		uc.R.Discard(n)
	}
	if err := hc.bw.Flush(); err != nil {
		ep.End(began, true)
		return false
	}
	h.cfg.Metrics.ObserveRequest(h.cfg.Direction, cl.Config.Name, rt.Name, 101, time.Since(start))
	hc.setPhase(phaseTunnel, 0)
	if n := hc.br.Buffered(); n > 0 {
		b, _ := hc.br.Peek(n)
		if _, err := uc.Conn.Write(b); err != nil {
			ep.End(began, true)
			return false
		}
		hc.br.Discard(n)
	}
	listener.Pipe(hc.c, uc.Conn, h.cfg.TunnelIdleTimeout)
	ep.End(began, false)
	return false
}

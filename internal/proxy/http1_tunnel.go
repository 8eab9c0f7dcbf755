package proxy

import (
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/listener"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// connect serves CONNECT host:port: the authority was routed like any
// request, so a tunnel reaches only a mesh service, never an arbitrary
// address. A tunnel to a service whose cluster keeps each request's HTTP
// version, or speaks HTTP/2, is served per request (connectRouted). One to
// a cluster that is TCP or declared HTTP/1.1-only (a static file's http, a
// tcp Service) stays an opaque tunnel to the chosen endpoint, as before.
func (hc *h1conn) connect(cl *cluster.Cluster, ep *cluster.Endpoint, rt *route.Route, start time.Time) bool {
	h := hc.h
	if h.cfg.Direction != "outbound" || hc.tunnelHost != nil {
		// inbound, or CONNECT inside a tunnel
		return hc.reject(telemetry.FlagDownstreamProtocolError, 405, "CONNECT is served on outbound listeners only, and not inside a tunnel", nil, cl.Config.Name, rt.Name, start)
	}
	if p := cl.Config.Protocol; p == cluster.Auto || p == cluster.HTTP2 {
		return hc.connectRouted(cl, ep, rt, start)
	}
	return hc.tunnel(cl, ep, rt, start, false)
}

// tunnel pipes the connection to ep, answering 200 first unless the
// client already has it.
func (hc *h1conn) tunnel(cl *cluster.Cluster, ep *cluster.Endpoint, rt *route.Route, start time.Time, answered bool) bool {
	h := hc.h
	began := ep.Begin()
	timeout := cl.Config.ConnectTimeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	up, err := net.DialTimeout("tcp", ep.Address, timeout)
	if err != nil {
		ep.End(began, true)
		if answered {
			hc.observe(502, telemetry.FlagUpstreamConnectFailure, time.Since(start))
			return false // too late for a status: the close says it
		}
		return hc.reject(telemetry.FlagUpstreamConnectFailure, 502, upstreamWords(telemetry.FlagUpstreamConnectFailure), nil, cl.Config.Name, rt.Name, start)
	}
	defer up.Close()
	if !answered {
		hc.bw.WriteString("HTTP/1.1 200 Connection Established\r\n\r\n")
		if err := hc.bw.Flush(); err != nil {
			ep.End(began, true)
			return false
		}
	}
	hc.observe(200, telemetry.FlagNone, time.Since(start))
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
		hc.meshAnswered(telemetry.FlagUpstreamProtocolError, 502, "upstream switched protocols unasked", nil, cl.Config.Name, rt.Name, time.Since(start), true)
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
	hc.observe(101, telemetry.FlagNone, time.Since(start))
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

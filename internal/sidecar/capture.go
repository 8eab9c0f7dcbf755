package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/netip"
	"sync"

	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/listener"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// Capture is the transparent-capture listener. Each connection it
// accepts was redirected to it by iptables; its original destination
// (SO_ORIGINAL_DST) decides what happens: a mesh service's virtual IP is
// that service (HTTP routed per request as on an outbound port bound to
// it, a TCP service forwarded to its endpoints), anything else is
// tunnelled to where it was going (counted as passthrough). The sidecar
// itself must run outside the captured network namespace, or its own
// connections would be redirected back to it.
type Capture struct {
	// Listen is where redirected connections arrive (host:port, port 0
	// picks one): the iptables REDIRECT rule names its port, and the
	// address must be on the interface the redirected traffic arrives on.
	Listen string `yaml:"listen" json:"listen"`
	// HostsFile, when set, is rewritten in place whenever the mesh
	// changes, so that every service name ("catalog", "catalog.default",
	// ...) resolves to its virtual IP; `weft run --capture` bind-mounts it
	// as the app's /etc/hosts. Default "": no file, the app dials virtual
	// IPs it learns otherwise.
	HostsFile string `yaml:"hostsFile" json:"hostsFile,omitempty"`
}

// Outcomes of a captured connection, the outcome label of
// weft_proxy_capture_connections_total.
const (
	captureMesh        = "mesh"            // a service's virtual IP
	capturePassthrough = "passthrough"     // tunnelled to its original destination
	captureLoop        = "loop"            // addressed to the capture listener itself: refused
	captureNoDst       = "no_original_dst" // not redirected, or no conntrack: refused
)

// capture decides, per connection, what a captured connection is.
type capture struct {
	s    *Sidecar
	vips *vipTable
	file string
	// tlsFor is the mTLS of each mesh endpoint a captured TCP connection
	// was last sent to, for the tunnel's dial (the listener's TCP proxy
	// asks by address); passthrough destinations have none: plaintext.
	tlsFor sync.Map // endpoint address -> *tls.Config
}

// destination reads c's original destination and counts the outcome;
// ok is false for a connection that must be refused.
func (cp *capture) destination(c net.Conn) (dst netip.AddrPort, e *vipEntry, ok bool) {
	dst, err := listener.OriginalDst(c)
	if err != nil {
		cp.s.log.Debug("captured connection refused", "remote", c.RemoteAddr(), "err", err)
		return dst, nil, false
	}
	if local, lok := c.LocalAddr().(*net.TCPAddr); lok && local.AddrPort().Addr().Unmap() == dst.Addr().Unmap() && local.AddrPort().Port() == dst.Port() {
		return dst, nil, false
	}
	return dst, cp.vips.lookup(dst.Addr().Unmap()), true
}

// protocolOf is the capture listener's per-connection decision.
func (cp *capture) protocolOf(c net.Conn) (listener.Protocol, bool) {
	dst, e, ok := cp.destination(c)
	switch {
	case !ok && dst.IsValid():
		cp.s.metrics.Captured(captureLoop)
		cp.s.log.Warn("captured connection to the capture listener itself refused (a loop)", "remote", c.RemoteAddr(), "dst", dst)
		return 0, false
	case !ok:
		cp.s.metrics.Captured(captureNoDst)
		return 0, false
	case e == nil:
		cp.s.metrics.Captured(capturePassthrough)
		return listener.TCP, true
	}
	cp.s.metrics.Captured(captureMesh)
	return cp.s.outboundProtocol(string(e.host))(), true
}

// update gives the virtual hosts of routes their virtual IPs and
// rewrites the hosts file.
func (cp *capture) update(routes route.Config) {
	entries := cp.vips.update(routes)
	if cp.file == "" {
		return
	}
	if err := writeInPlace(cp.file, renderHosts(entries)); err != nil {
		cp.s.log.Warn("captured app's hosts file not updated: new services do not resolve", "err", err)
	}
}

// pickFor is the TCP handler's choice: a TCP service's endpoint for its
// virtual IP, else the original destination itself.
func (cp *capture) pickFor(c net.Conn) (string, func(listener.Outcome), error) {
	dst, e, ok := cp.destination(c)
	if !ok {
		return "", nil, fmt.Errorf("capture: no original destination for %s", c.RemoteAddr())
	}
	if e == nil {
		return dst.String(), nil, nil
	}
	cl := clusterOf(cp.s.outbound.Load(), string(e.host))
	if cl == nil {
		return "", nil, fmt.Errorf("capture: no cluster for %s", e.host)
	}
	ep := cl.Pick(0, false)
	if ep == nil {
		return "", nil, fmt.Errorf("capture: cluster %q has no endpoints", cl.Config.Name)
	}
	if ep.TLS != nil {
		cp.tlsFor.Store(ep.Address, ep.TLS)
	} else {
		cp.tlsFor.Delete(ep.Address)
	}
	start := ep.Begin()
	series := cp.s.metrics.TCPOpened(proxy.TCPLabels("outbound", cp.s.self, c, cl, ep))
	return ep.Address, func(o listener.Outcome) {
		ep.End(start, o.Err != nil)
		series.Bytes(o.Sent, o.Received)
		series.Closed()
	}, nil
}

// upstreamTLS is the mTLS a captured TCP connection to addr is wrapped
// in: a mesh endpoint's, nil for a passthrough destination.
func (cp *capture) upstreamTLS(addr string) *tls.Config {
	if v, ok := cp.tlsFor.Load(addr); ok {
		return v.(*tls.Config)
	}
	return nil
}

// captureHTTP1 routes each captured HTTP/1 connection as its virtual
// IP's service.
type captureHTTP1 struct {
	cp *capture
	h  *proxy.HTTP1
}

func (w *captureHTTP1) ServeConn(ctx context.Context, c net.Conn) {
	if _, e, ok := w.cp.destination(c); ok && e != nil {
		w.h.ServeConnAs(ctx, c, e.host)
	}
}

func (w *captureHTTP1) Shutdown(ctx context.Context) error { return w.h.Shutdown(ctx) }

// captureHTTP2 is captureHTTP1 for HTTP/2 (h2c, gRPC).
type captureHTTP2 struct {
	cp *capture
	h  *proxy.HTTP2
}

func (w *captureHTTP2) ServeConn(ctx context.Context, c net.Conn) {
	if _, e, ok := w.cp.destination(c); ok && e != nil {
		w.h.ServeConnAs(ctx, c, string(e.host))
	}
}

func (w *captureHTTP2) Shutdown(ctx context.Context) error { return w.h.Shutdown(ctx) }

// captureListener is the listener config of outbound.capture.
func (s *Sidecar) captureListener(c *Capture, lim Limits, trust bool) listener.Config {
	cp := s.capture
	name := "outbound/capture"
	h1 := &captureHTTP1{cp: cp, h: proxy.NewHTTP1(proxy.HTTP1Config{
		Name: name, Direction: "outbound", Runtime: &s.outbound, TrustForwarded: trust,
		OnMiss:         s.onMissFor("outbound"),
		MaxHeaderBytes: lim.MaxHeaderBytes, MaxHeaders: lim.MaxHeaders,
		HeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout, RequestTimeout: lim.RequestTimeout,
		Metrics: s.metrics, Logger: s.log, Self: s.self, Tracer: s.tel.tracer, AccessLog: s.tel.access, Tap: &s.tel.tap.hub, Mirror: s.mirror,
	})}
	h2 := &captureHTTP2{cp: cp, h: proxy.NewHTTP2(proxy.HTTP2Config{
		Name: name, Direction: "outbound", Runtime: &s.outbound, TrustForwarded: trust,
		OnMiss:         s.onMissFor("outbound"),
		MaxHeaderBytes: lim.MaxHeaderBytes, IdleTimeout: lim.IdleTimeout, RequestTimeout: lim.RequestTimeout,
		Metrics: s.metrics, Logger: s.log, Self: s.self, Tracer: s.tel.tracer, AccessLog: s.tel.access, Tap: &s.tel.tap.hub, Mirror: s.mirror,
	})}
	tcp := listener.NewTCPProxy(listener.TCPConfig{Name: name, Pick: cp.pickFor, UpstreamTLS: cp.upstreamTLS, Logger: s.log})
	lc := s.listenerConfig(name, c.Listen, lim, h1, h2, tcp)
	lc.ProtocolOf = cp.protocolOf
	return lc
}

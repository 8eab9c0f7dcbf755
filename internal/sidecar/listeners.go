package sidecar

import (
	"context"
	"crypto/tls"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/listener"
)

// namedListener is one bound listener of this sidecar.
type namedListener struct {
	name string
	l    *listener.Listener
}

func (n *namedListener) Serve(ctx context.Context) error {
	if err := n.l.Serve(ctx); err != nil {
		return fmt.Errorf("listener %s: %w", n.name, err)
	}
	return nil
}

func (n *namedListener) Shutdown(ctx context.Context) error { return n.l.Shutdown(ctx) }

type boundListeners struct {
	items []*namedListener
}

func (b *boundListeners) closeAll() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already expired: close at once
	for _, l := range b.items {
		l.Shutdown(ctx)
	}
}

// bind creates and binds every listener of cfg, or none.
func (s *Sidecar) bind(cfg *Config) (*boundListeners, Addrs, error) {
	b := &boundListeners{}
	addrs := Addrs{Inbound: map[string]string{}, Outbound: map[string]string{}}
	budget, reserve := s.newFDBudget(dataListeners(cfg))
	add := func(lc listener.Config) (string, error) {
		lc.FDs = budget.Share(reserve)
		l, err := listener.New(lc)
		if err != nil {
			return "", err
		}
		b.items = append(b.items, &namedListener{name: lc.Name, l: l})
		return l.Addr().String(), nil
	}
	fail := func(err error) (*boundListeners, Addrs, error) {
		b.closeAll()
		return nil, Addrs{}, fmt.Errorf("bind: %w", err)
	}
	lim := cfg.Limits
	for _, in := range cfg.Inbound {
		rts := s.inbound[in.Name]
		name := "inbound/" + in.Name
		lc := s.listenerConfig(name, in.Listen, lim,
			s.http1(name, "inbound", &rts.h1, "", lim, in.TrustForwardedHeaders), s.http2(name, "inbound", &rts.h2, "", lim, in.TrustForwardedHeaders),
			s.tcp(name, "inbound", &rts.h1, name))
		lc.Protocol, lc.ServerFirst = inboundProtocol(in.Protocol), in.ServerFirst
		if s.mesh != nil {
			lc.TLS, lc.MeshMode, lc.OnPlaintext = s.mesh.server, s.inboundMode(in.Name), s.mesh.onPlaintext(name)
		}
		a, err := add(lc)
		if err != nil {
			return fail(err)
		}
		addrs.Inbound[in.Name] = a
	}
	if cfg.Outbound.Proxy != "" {
		name := "outbound/proxy"
		lc := s.listenerConfig(name, cfg.Outbound.Proxy, lim,
			s.http1(name, "outbound", &s.outbound, "", lim, cfg.Outbound.trustApp()), s.http2(name, "outbound", &s.outbound, "", lim, cfg.Outbound.trustApp()), nil)
		// HTTP_PROXY speaks HTTP whatever the destination: CONNECT is the
		// only way to a tunnel, and it is routed per request.
		lc.Protocol = listener.HTTP1
		a, err := add(lc)
		if err != nil {
			return fail(err)
		}
		addrs.Proxy = a
	}
	for _, op := range cfg.Outbound.Ports {
		name := "outbound/" + op.Service
		lc := s.listenerConfig(name, op.Listen, lim,
			s.http1(name, "outbound", &s.outbound, op.Service, lim, cfg.Outbound.trustApp()), s.http2(name, "outbound", &s.outbound, op.Service, lim, cfg.Outbound.trustApp()),
			s.tcp(name, "outbound", &s.outbound, op.Service))
		lc.ProtocolFor = s.outboundProtocol(op.Service)
		a, err := add(lc)
		if err != nil {
			return fail(err)
		}
		addrs.Outbound[op.Service] = a
	}
	if c := cfg.Outbound.Capture; c != nil && s.capture != nil {
		a, err := add(s.captureListener(c, lim, cfg.Outbound.trustApp()))
		if err != nil {
			return fail(err)
		}
		addrs.Capture = a
	}
	return b, addrs, nil
}

// inboundProtocol maps inbound[].protocol onto the listener's: a port
// declared HTTP never hands bytes to TCP.
func inboundProtocol(p string) listener.Protocol {
	switch p {
	case "http":
		return listener.HTTP1
	case "http2":
		return listener.HTTP2
	case "tcp":
		return listener.TCP
	}
	return listener.Auto
}

// outboundProtocol tells an outbound port, at each accept, what its
// service speaks now: with a control plane the service's config arrives
// after the port is bound, and may change. A service not known yet is
// HTTP, whose requests then get the mesh's own no-route answer: never a
// tunnel.
func (s *Sidecar) outboundProtocol(service string) func() listener.Protocol {
	return func() listener.Protocol {
		c := clusterOf(s.outbound.Load(), service)
		if c == nil {
			return listener.HTTP1
		}
		switch c.Config.Protocol {
		case cluster.TCP:
			return listener.TCP
		case cluster.HTTP2:
			return listener.HTTP2
		}
		return listener.HTTP1
	}
}

// clusterOf finds the cluster serving a service name: the cluster of
// that name (quick mode, inbound), or else the one the service's
// virtual host sends "/" to, as HTTP routing would (with a control plane
// "tcpsvc" is the cluster "tcpsvc.default").
func clusterOf(st *proxy.State, service string) *cluster.Cluster {
	if st == nil {
		return nil
	}
	if c := st.Clusters.Get(service); c != nil {
		return c
	}
	r := st.Routes.Lookup([]byte(service), nil, []byte("/"), nil, noHeaders{})
	if r == nil || len(r.Backends) == 0 {
		return nil
	}
	return st.Clusters.Get(r.PickBackend(rand.Uint64()))
}

type noHeaders struct{}

func (noHeaders) Get(string) ([]byte, bool) { return nil, false }

func (s *Sidecar) listenerConfig(name, addr string, lim Limits, h1, h2, tcp listener.Handler) listener.Config {
	return listener.Config{
		Name: name, Addr: addr, Protocol: listener.Auto,
		HTTP1: h1, HTTP2: h2, TCP: tcp,
		MaxConns: lim.MaxConnections, SniffTimeout: lim.SniffTimeout,
		IdleTimeout: lim.IdleTimeout, HeaderTimeout: lim.HeaderTimeout,
		Metrics: s.metrics, Logger: s.log,
	}
}

func (s *Sidecar) http1(name, dir string, rt *proxy.Runtime, force string, lim Limits, trust bool) listener.Handler {
	return proxy.NewHTTP1(proxy.HTTP1Config{
		Name: name, Direction: dir, Runtime: rt, ForceHost: force, TrustForwarded: trust, LocalID: s.localID,
		OnMiss: s.onMissFor(dir), Mirror: s.mirror,
		MaxHeaderBytes: lim.MaxHeaderBytes, MaxHeaders: lim.MaxHeaders,
		HeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout, RequestTimeout: lim.RequestTimeout,
		Metrics: s.metrics, Logger: s.log, Self: s.self, Tracer: s.tel.tracer, AccessLog: s.tel.access, Tap: &s.tel.tap.hub,
	})
}

func (s *Sidecar) http2(name, dir string, rt *proxy.Runtime, force string, lim Limits, trust bool) listener.Handler {
	return proxy.NewHTTP2(proxy.HTTP2Config{
		Name: name, Direction: dir, Runtime: rt, ForceHost: force, TrustForwarded: trust, LocalID: s.localID,
		OnMiss: s.onMissFor(dir), Mirror: s.mirror,
		MaxHeaderBytes: lim.MaxHeaderBytes, IdleTimeout: lim.IdleTimeout, RequestTimeout: lim.RequestTimeout,
		Metrics: s.metrics, Logger: s.log, Self: s.self, Tracer: s.tel.tracer, AccessLog: s.tel.access, Tap: &s.tel.tap.hub,
	})
}

// tcp forwards opaque bytes to an endpoint of the named cluster, read from
// the runtime's current state at connect time.
func (s *Sidecar) tcp(name, dir string, rt *proxy.Runtime, clusterName string) listener.Handler {
	return listener.NewTCPProxy(listener.TCPConfig{
		Name: name,
		Pick: func(down net.Conn) (string, func(listener.Outcome), error) {
			st := rt.Load()
			if st != nil && !st.Authz.Empty() {
				// Authorization policies are checked on HTTP requests only;
				// opaque bytes (a TCP service, or a client whose first bytes
				// are not HTTP) would pass them unchecked, so they fail closed.
				return "", nil, fmt.Errorf("tcp %s: authorization policies govern this service and opaque TCP cannot be checked against them: refused", name)
			}
			c := clusterOf(st, clusterName)
			if c == nil {
				return "", nil, fmt.Errorf("tcp %s: no cluster for %q", name, clusterName)
			}
			ep := c.Pick(0, false)
			if ep == nil {
				return "", nil, fmt.Errorf("tcp %s: cluster %q has no endpoints", name, clusterName)
			}
			start := ep.Begin()
			series := s.metrics.TCPOpened(proxy.TCPLabels(dir, s.self, down, c, ep))
			return ep.Address, func(o listener.Outcome) {
				ep.End(start, o.Err != nil)
				series.Bytes(o.Sent, o.Received)
				series.Closed()
			}, nil
		},
		UpstreamTLS: func(addr string) *tls.Config { return endpointTLS(clusterOf(rt.Load(), clusterName), addr) },
		DialTimeout: 2 * time.Second,
		Logger:      s.log,
	})
}

// onMissFor gives outbound listeners the learning hook; inbound ones route
// to the local app only.
func (s *Sidecar) onMissFor(dir string) func([]byte) *proxy.State {
	if dir != "outbound" || s.learn == nil {
		return nil
	}
	return s.onMiss
}

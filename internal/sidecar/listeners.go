package sidecar

import (
	"context"
	"fmt"
	"time"

	"github.com/weft-mesh/weft/internal/proxy"
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
	add := func(lc listener.Config) (string, error) {
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
			s.tcp(name, &rts.h1, name))
		if in.Protocol == "tcp" {
			lc.Protocol = listener.TCP
		}
		a, err := add(lc)
		if err != nil {
			return fail(err)
		}
		addrs.Inbound[in.Name] = a
	}
	if cfg.Outbound.Proxy != "" {
		name := "outbound/proxy"
		a, err := add(s.listenerConfig(name, cfg.Outbound.Proxy, lim,
			s.http1(name, "outbound", &s.outbound, "", lim, cfg.Outbound.trustApp()), s.http2(name, "outbound", &s.outbound, "", lim, cfg.Outbound.trustApp()), nil))
		if err != nil {
			return fail(err)
		}
		addrs.Proxy = a
	}
	for _, op := range cfg.Outbound.Ports {
		name := "outbound/" + op.Service
		lc := s.listenerConfig(name, op.Listen, lim,
			s.http1(name, "outbound", &s.outbound, op.Service, lim, cfg.Outbound.trustApp()), s.http2(name, "outbound", &s.outbound, op.Service, lim, cfg.Outbound.trustApp()),
			s.tcp(name, &s.outbound, op.Service))
		if svc := findService(cfg, op.Service); svc != nil && svc.Protocol == "tcp" {
			lc.Protocol = listener.TCP
		}
		a, err := add(lc)
		if err != nil {
			return fail(err)
		}
		addrs.Outbound[op.Service] = a
	}
	return b, addrs, nil
}

func findService(cfg *Config, name string) *Service {
	for i := range cfg.Services {
		if cfg.Services[i].Name == name {
			return &cfg.Services[i]
		}
	}
	return nil
}

func (s *Sidecar) listenerConfig(name, addr string, lim Limits, h1, h2, tcp listener.Handler) listener.Config {
	return listener.Config{
		Name: name, Addr: addr, Protocol: listener.Auto,
		HTTP1: h1, HTTP2: h2, TCP: tcp,
		MaxConns: lim.MaxConnections, SniffTimeout: lim.SniffTimeout,
		Metrics: s.metrics, Logger: s.log,
	}
}

func (s *Sidecar) http1(name, dir string, rt *proxy.Runtime, force string, lim Limits, trust bool) listener.Handler {
	return proxy.NewHTTP1(proxy.HTTP1Config{
		Name: name, Direction: dir, Runtime: rt, ForceHost: force, TrustForwarded: trust,
		OnMiss:         s.onMissFor(dir),
		MaxHeaderBytes: lim.MaxHeaderBytes, MaxHeaders: lim.MaxHeaders,
		HeaderTimeout: lim.HeaderTimeout, IdleTimeout: lim.IdleTimeout, RequestTimeout: lim.RequestTimeout,
		Metrics: s.metrics, Logger: s.log,
	})
}

func (s *Sidecar) http2(name, dir string, rt *proxy.Runtime, force string, lim Limits, trust bool) listener.Handler {
	return proxy.NewHTTP2(proxy.HTTP2Config{
		Name: name, Direction: dir, Runtime: rt, ForceHost: force, TrustForwarded: trust,
		OnMiss:         s.onMissFor(dir),
		MaxHeaderBytes: lim.MaxHeaderBytes, IdleTimeout: lim.IdleTimeout, RequestTimeout: lim.RequestTimeout,
		Metrics: s.metrics, Logger: s.log,
	})
}

// tcp forwards opaque bytes to an endpoint of the named cluster, read from
// the runtime's current state at connect time.
func (s *Sidecar) tcp(name string, rt *proxy.Runtime, clusterName string) listener.Handler {
	return listener.NewTCPProxy(listener.TCPConfig{
		Name: name,
		Pick: func() (string, func(error), error) {
			st := rt.Load()
			c := st.Clusters.Get(clusterName)
			if c == nil {
				return "", nil, fmt.Errorf("tcp %s: no cluster %q", name, clusterName)
			}
			ep := c.Pick(0, false)
			if ep == nil {
				return "", nil, fmt.Errorf("tcp %s: cluster %q has no endpoints", name, clusterName)
			}
			start := ep.Begin()
			return ep.Address, func(err error) { ep.End(start, err != nil) }, nil
		},
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

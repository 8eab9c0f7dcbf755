package sidecar

import (
	"crypto/tls"
	"fmt"
	"net"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/mtls"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/listener"
)

// Inbound mTLS modes (inbound[].mtls).
const (
	MTLSStrict     = "STRICT"
	MTLSPermissive = "PERMISSIVE"
)

// meshTLS is a sidecar's mTLS state: one server config for every inbound
// listener and the client configs for peers, all reading the current SVID
// (s.svid), so a renewal or a new bundle rebuilds nothing.
type meshTLS struct {
	hs      mtls.Handshakes
	server  *tls.Config
	clients *mtls.Clients

	plainMu sync.Mutex
	plain   map[string]bool // sources counted, capped at maxPlaintextSources
	plainC  *prometheus.CounterVec
}

// maxPlaintextSources caps the source label of the plaintext metric; past
// it, new sources count under "other".
const maxPlaintextSources = 1000

func (s *Sidecar) newMeshTLS() *meshTLS {
	m := &meshTLS{plain: map[string]bool{}}
	m.server = mtls.ServerConfig(&s.svid, &m.hs)
	m.clients = mtls.NewClients(&s.svid, &m.hs)
	m.plainC = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "weft_inbound_plaintext_connections_total",
		Help: "Plaintext connections to an mTLS inbound port, by listener, source address and outcome (served: PERMISSIVE, refused: STRICT): who still calls without mTLS.",
	}, []string{"listener", "source", "outcome"})
	s.reg.MustRegister(m.plainC, s.bundleMetric())
	for _, side := range []mtls.Side{mtls.Server, mtls.Client} {
		for _, r := range []mtls.Result{mtls.OK, mtls.Resumed, mtls.Refused} {
			s.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name:        "weft_tls_handshakes_total",
				Help:        "Mesh mTLS handshakes by side (server: inbound, client: to a peer sidecar) and result (ok, resumed, refused: the peer's certificate failed the check). Pooled connections make it follow connections, not requests.",
				ConstLabels: prometheus.Labels{"side": side.String(), "result": r.String()},
			}, func() float64 { return float64(m.hs.Get(side, r)) }))
		}
	}
	return m
}

// onPlaintext counts a plaintext caller of an mTLS inbound port.
func (m *meshTLS) onPlaintext(name string) func(net.Addr, bool) {
	return func(a net.Addr, served bool) {
		src := a.String()
		if host, _, err := net.SplitHostPort(src); err == nil {
			src = host
		}
		m.plainMu.Lock()
		if !m.plain[src] {
			if len(m.plain) >= maxPlaintextSources {
				src = "other"
			} else {
				m.plain[src] = true
			}
		}
		m.plainMu.Unlock()
		outcome := "refused"
		if served {
			outcome = "served"
		}
		m.plainC.WithLabelValues(name, src, outcome).Inc()
	}
}

// inboundMode reads the inbound's mode at each accept, so a change
// applies to the next connection: the mode the control plane pushed for
// the sidecar's Service (spec.mtls.mode) when it sent one, which wins over
// the bootstrap's inbound[].mtls, else that field from the running config.
func (s *Sidecar) inboundMode(name string) func() listener.MeshTLS {
	return func() listener.MeshTLS {
		if m := s.effectiveMTLS(name); m == MTLSPermissive {
			return listener.MeshPermissive
		}
		return listener.MeshStrict
	}
}

// effectiveMTLS is the mode inbound name runs in, and who set it
// (pushed or bootstrap); "" without an identity (plaintext, no mTLS).
func (s *Sidecar) effectiveMTLS(name string) string {
	m, _ := s.mtlsMode(name)
	return m
}

// mtlsMode is effectiveMTLS with its source: "controlPlane" when the
// control plane set the mode, "bootstrap" otherwise.
func (s *Sidecar) mtlsMode(name string) (mode, source string) {
	if s.mesh == nil {
		return "", ""
	}
	if d := s.dyn.Load(); d != nil && d.MTLS != "" {
		return d.MTLS, "controlPlane"
	}
	if a := s.active.Load(); a != nil {
		for _, in := range a.cfg.Inbound {
			if in.Name == name && in.MTLS == MTLSPermissive {
				return MTLSPermissive, "bootstrap"
			}
		}
	}
	return MTLSStrict, "bootstrap"
}

// checkPushedMTLS refuses (NACKs) a pushed mode this sidecar cannot honour:
// without an identity it terminates no mTLS, so STRICT or PERMISSIVE
// would be accepted and ignored.
func (s *Sidecar) checkPushedMTLS(mode string) error {
	switch {
	case mode == "":
		return nil
	case mode != MTLSStrict && mode != MTLSPermissive:
		return fmt.Errorf("inbound listener: mtls mode %q: want STRICT or PERMISSIVE", mode)
	case s.mesh == nil:
		return fmt.Errorf("inbound listener: the control plane sets mtls mode %s for this sidecar's Service, but the sidecar has no identity (identity:) to terminate mTLS with; give it one or unset the Service's spec.mtls", mode)
	}
	return nil
}

// localID is this sidecar's SPIFFE ID, "" before its first certificate.
func (s *Sidecar) localID() string {
	if cur := s.svid.Current(); cur != nil {
		return cur.ID
	}
	return ""
}

// withMeshTLS gives clusters that name the identities allowed to serve
// them (PeerIDs) the mTLS client config for those identities. Without a
// workload certificate there is none: their mTLS endpoints are dialed in
// plaintext, which a STRICT peer refuses.
func (s *Sidecar) withMeshTLS(cs []cluster.Config) []cluster.Config {
	if s.mesh == nil {
		return cs
	}
	out := make([]cluster.Config, len(cs))
	for i, c := range cs {
		if len(c.PeerIDs) > 0 {
			tc, err := s.mesh.clients.For(c.PeerIDs)
			if err != nil {
				s.log.Warn("cluster's allowed identities unreadable; its mTLS endpoints are dialed in plaintext", "cluster", c.Name, "err", err)
			} else {
				c.TLS = tc
			}
		}
		out[i] = c
	}
	return out
}

// endpointTLS finds the TLS an endpoint of the runtime's current cluster
// is dialed with (TCP tunnels dial outside the pools).
func endpointTLS(c *cluster.Cluster, addr string) *tls.Config {
	if c == nil {
		return nil
	}
	for _, ep := range c.Endpoints {
		if ep.Address == addr {
			return ep.TLS
		}
	}
	return nil
}

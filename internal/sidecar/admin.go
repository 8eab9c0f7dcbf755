package sidecar

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"reflect"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// adminHandler serves the admin endpoints (POST /explain: explain.go). It is bound to loopback by
// default: /config shows the whole mesh view of this sidecar.
func (s *Sidecar) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /live", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("live\n"))
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		switch {
		case s.draining.Load():
			http.Error(w, "draining", http.StatusServiceUnavailable)
		case !s.serving.Load():
			http.Error(w, "starting", http.StatusServiceUnavailable)
		default:
			s.readyCert(w)
		}
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Timeout: 5 * time.Second}))
	// Profiles on the loopback admin port: how the benchmarks' CPU
	// breakdowns in docs/BENCHMARKS.md were taken.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/heap", pprof.Handler("heap").ServeHTTP)
	mux.HandleFunc("GET /config", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		enc.Encode(s.dump())
	})
	// What the outbound tables do with one request: `weft explain`.
	mux.HandleFunc("POST /explain", s.serveExplain)
	// Live request metadata, filtered and rate-capped: `weft tap`.
	mux.Handle("GET /tap", tap.Handler(&s.tel.tap.hub, s.tel.tap.stop))
	return mux
}

// adminMaxConns caps the admin port's connections. Its fds sit in the
// reserve that the data plane's fd budget never spends, so /ready and
// /live answer however full the data plane is.
const adminMaxConns = 32

// The admin timeouts are short: probes and scrapes are quick, and a slow
// client must not keep one of the few slots.
func (s *Sidecar) newAdminServer() *http.Server {
	return &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: 2 * time.Second,
		ReadTimeout:       5 * time.Second,
		WriteTimeout:      35 * time.Second, // a 30s CPU profile
		IdleTimeout:       10 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// listenAdmin binds the admin port with its own connection cap: at the
// cap, accepting pauses and new probes wait in the kernel backlog.
func listenAdmin(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen admin %s: %w", addr, err)
	}
	return &capListener{Listener: ln, slots: make(chan struct{}, adminMaxConns), done: make(chan struct{})}, nil
}

// capListener holds a slot per open connection.
type capListener struct {
	net.Listener
	slots     chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

func (l *capListener) Accept() (net.Conn, error) {
	select {
	case l.slots <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if err != nil {
		<-l.slots
		return nil, err
	}
	return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
}

func (l *capListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// slotConn gives its slot back once, on the first Close.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// ConfigDump is the /config document: the effective config and what the
// proxy runs from it. Durations print as Go duration strings ("2s").
type ConfigDump struct {
	Version  string    `json:"version"`
	Loaded   time.Time `json:"loaded"`
	Draining bool      `json:"draining"`
	// Config is the sidecar's file, defaults applied.
	Config any `json:"config"`
	// ControlPlaneVersion is the xDS version serving the outbound
	// services, when a control plane provides them.
	ControlPlaneVersion string `json:"controlPlaneVersion,omitempty"`
	// Routes is the outbound route table the control plane sent, as the
	// proxy compiled it (empty without a control plane: see Config).
	Routes   []VirtualHostDump `json:"routes"`
	Clusters []ClusterDump     `json:"clusters"`
	// Certificate is the workload certificate's state, with an identity.
	Certificate *CertDump `json:"certificate,omitempty"`
	// InboundMTLS is each inbound port's mTLS mode now, and who set it.
	InboundMTLS []InboundMTLSDump `json:"inboundMTLS,omitempty"`
}

// ClusterDump shows one outbound cluster, its settings and its
// endpoints' live state.
type ClusterDump struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"` // http, http2 or tcp
	LB       string `json:"lb"`
	MTLS     bool   `json:"mtls"`
	// ConnectTimeout and IdleTimeout are Go durations; "" means the default.
	ConnectTimeout      string `json:"connectTimeout,omitempty"`
	IdleTimeout         string `json:"idleTimeout,omitempty"`
	MaxConnsPerEndpoint int    `json:"maxConnsPerEndpoint,omitempty"`
	// Endpoints are the ready ones: the control plane sends no other,
	// and a not-ready endpoint is never picked.
	Endpoints []EndpointDump `json:"endpoints"`
	// Locality is the traffic share of each locality tier now, nearest
	// first; absent when the cluster is not locality-aware.
	Locality []TierShare `json:"locality,omitempty"`
}

// EndpointDump shows one endpoint and its pool.
type EndpointDump struct {
	Address string `json:"address"`
	Weight  uint32 `json:"weight"`
	Zone    string `json:"zone,omitempty"`
	Region  string `json:"region,omitempty"`
	// Tier is the endpoint's locality tier seen from this sidecar (zone,
	// region, remote); empty when the cluster is not locality-aware.
	Tier      string            `json:"tier,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	OpenConns int               `json:"openConns"`
	IdleConns int               `json:"idleConns"`
}

func (s *Sidecar) dump() ConfigDump {
	a := s.active.Load()
	d := ConfigDump{Draining: s.draining.Load(), Routes: []VirtualHostDump{}, Clusters: []ClusterDump{}}
	if a == nil {
		return d
	}
	d.Version, d.Loaded = a.version, a.loaded
	if s.certs != nil {
		cd := s.certs.dump()
		d.Certificate = &cd
	}
	if a.cfg != nil {
		d.Config = jsonView(reflect.ValueOf(a.cfg))
		d.InboundMTLS = s.dumpInboundMTLS(a.cfg)
	}
	if dyn := s.dyn.Load(); dyn != nil {
		d.ControlPlaneVersion = dyn.Version
		d.Routes = dumpRoutes(dyn.Routes)
	}
	st := s.outbound.Load()
	if st == nil {
		return d
	}
	for _, name := range sortedNames(st.Clusters.Names()) {
		d.Clusters = append(d.Clusters, dumpCluster(st.Clusters.Get(name)))
	}
	return d
}

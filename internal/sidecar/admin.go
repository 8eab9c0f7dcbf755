package sidecar

import (
	"encoding/json"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// adminHandler serves the admin endpoints. It is bound to loopback by
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
			w.Write([]byte("ready\n"))
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
	return mux
}

func (s *Sidecar) newAdminServer() *http.Server {
	return &http.Server{
		Handler:           s.adminHandler(),
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// ConfigDump is the /config document: the effective config and what the
// proxy built from it.
type ConfigDump struct {
	Version  string    `json:"version"`
	Loaded   time.Time `json:"loaded"`
	Draining bool      `json:"draining"`
	Config   *Config   `json:"config"`
	// ControlPlaneVersion is the xDS version serving the outbound
	// services, when a control plane provides them.
	ControlPlaneVersion string        `json:"controlPlaneVersion,omitempty"`
	Clusters            []ClusterDump `json:"clusters"`
}

// ClusterDump shows one outbound cluster and its endpoints' live state.
type ClusterDump struct {
	Name      string         `json:"name"`
	Endpoints []EndpointDump `json:"endpoints"`
}

// EndpointDump shows one endpoint's pool.
type EndpointDump struct {
	Address   string `json:"address"`
	OpenConns int    `json:"openConns"`
	IdleConns int    `json:"idleConns"`
}

func (s *Sidecar) dump() ConfigDump {
	a := s.active.Load()
	d := ConfigDump{Draining: s.draining.Load()}
	if a == nil {
		return d
	}
	d.Version, d.Loaded, d.Config = a.version, a.loaded, a.cfg
	if dyn := s.dyn.Load(); dyn != nil {
		d.ControlPlaneVersion = dyn.Version
	}
	st := s.outbound.Load()
	if st == nil {
		return d
	}
	for _, name := range sortedNames(st.Clusters.Names()) {
		c := st.Clusters.Get(name)
		cd := ClusterDump{Name: name}
		for _, ep := range c.Endpoints {
			open, idle := ep.Pool.Stats()
			cd.Endpoints = append(cd.Endpoints, EndpointDump{Address: ep.Address, OpenConns: open, IdleConns: idle})
		}
		d.Clusters = append(d.Clusters, cd)
	}
	return d
}

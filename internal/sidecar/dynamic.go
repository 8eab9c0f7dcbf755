package sidecar

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	xdsclient "github.com/weft-mesh/weft/internal/xds/client"
)

// dynamic is the last outbound config accepted from the control plane.
type dynamic struct {
	Version  string           `json:"version"`
	Routes   route.Config     `json:"routes"`
	Clusters []cluster.Config `json:"clusters"`
	// Authz is the inbound listener's authorization config; nil: none.
	Authz *authz.Config `json:"authz,omitempty"`
	// MTLS is the inbound mTLS mode the control plane set for this
	// sidecar's Service (spec.mtls.mode), which wins over inbound[].mtls;
	// "": none, each inbound keeps its own.
	MTLS string `json:"mtls,omitempty"`
}

// cacheFile is per node, so sidecars sharing a directory never read each
// other's config.
func cacheFile(node string) string { return "xds-" + node + ".json" }

// maxCacheBytes caps the cache file read at start.
const maxCacheBytes = 64 << 20

// applyXDS is the xDS client's Apply: it builds the new outbound state and
// swaps it in, or returns the error the client NACKs with; either way the
// state serving traffic is whole.
func (s *Sidecar) applyXDS(u xdsclient.Update) (err error) {
	if s.opts.ControlPlaneApplied != nil {
		defer func() {
			if err == nil {
				s.opts.ControlPlaneApplied(u.Version, clusterNames(u.Clusters))
			}
		}()
	}
	d := &dynamic{Version: u.Version, Routes: u.Routes, Clusters: u.Clusters, Authz: u.Authz, MTLS: u.InboundMTLS}
	// Every type's response completes a set, so one push can arrive as
	// several equal updates; rebuilding for each would only churn state.
	if cur := s.dyn.Load(); cur != nil && reflect.DeepEqual(cur.Routes, d.Routes) && reflect.DeepEqual(cur.Clusters, d.Clusters) && reflect.DeepEqual(cur.Authz, d.Authz) && cur.MTLS == d.MTLS {
		// Nothing to rebuild, but the version moved (another type's
		// push, or a change this sidecar's scope does not see): report it.
		if cur.Version != d.Version {
			s.dyn.Store(&dynamic{Version: d.Version, Routes: cur.Routes, Clusters: cur.Clusters, Authz: cur.Authz, MTLS: cur.MTLS})
		}
		s.xdsMetrics.Applied(d.Version, time.Now())
		return nil
	}
	if err := s.applyDynamic(d); err != nil {
		return err
	}
	s.xdsMetrics.Applied(d.Version, time.Now())
	s.saveCache(d)
	return nil
}

func (s *Sidecar) applyDynamic(d *dynamic) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	var cfg *Config
	if a := s.active.Load(); a != nil {
		cfg = a.cfg
	}
	st, err := buildState("xds-"+d.Version, d.Routes, s.withMeshTLS(d.Clusters), s.outbound.Load(), s.clusterOptions(cfg)...)
	if err != nil {
		return err
	}
	if err := s.checkPushedMTLS(d.MTLS); err != nil {
		return err
	}
	var table *authz.Table
	if d.Authz != nil {
		if table, err = authz.Compile(*d.Authz); err != nil {
			return fmt.Errorf("inbound authorization: %w", err)
		}
	}
	if old := s.outbound.Store(st); old != nil {
		cluster.Retire(old.Clusters, st.Clusters)
	}
	s.setAuthz(table)
	s.dyn.Store(d)
	if s.capture != nil {
		s.capture.update(d.Routes)
	}
	if s.learn != nil {
		s.learn.applied()
	}
	s.log.Info("control-plane config applied", "version", d.Version, "clusters", len(d.Clusters), "inboundMTLS", d.MTLS)
	return nil
}

// saveCache writes d atomically (temp file and rename), so a crash leaves
// the previous cache whole.
func (s *Sidecar) saveCache(d *dynamic) {
	cfg := s.active.Load().cfg
	cp := cfg.ControlPlane
	if cp == nil || cp.CacheDir == "" {
		return
	}
	name := cacheFile(cfg.Node)
	b, err := json.Marshal(d)
	if err == nil {
		err = os.MkdirAll(cp.CacheDir, 0o755)
	}
	if err == nil {
		tmp := filepath.Join(cp.CacheDir, name+".tmp")
		if err = os.WriteFile(tmp, b, 0o644); err == nil {
			err = os.Rename(tmp, filepath.Join(cp.CacheDir, name))
		}
	}
	if err != nil {
		s.log.Warn("could not save the config cache; a restart without the control plane would start empty", "err", err)
	}
}

// loadCache applies the saved config, if any, before the control plane
// answers: static stability across a sidecar restart.
func (s *Sidecar) loadCache(dir, node string) {
	f, err := os.Open(filepath.Join(dir, cacheFile(node)))
	if err != nil {
		if !os.IsNotExist(err) {
			s.log.Warn("config cache unreadable", "err", err)
		}
		return
	}
	defer f.Close()
	var d dynamic
	dec := json.NewDecoder(io.LimitReader(f, maxCacheBytes))
	if err := dec.Decode(&d); err != nil {
		s.log.Warn("config cache corrupt; waiting for the control plane", "err", err)
		return
	}
	if err := s.applyDynamic(&d); err != nil {
		s.log.Warn("config cache rejected; waiting for the control plane", "err", err)
		return
	}
	s.log.Info("serving the cached config until the control plane answers", "version", d.Version)
}

// runXDS keeps an ADS stream to one of the replicas until ctx ends. The
// xDS client's defaults bound the connect and notice a replica that went
// silent within about 30s.
func (s *Sidecar) runXDS(ctx context.Context, cfg *Config, trust *cpTrust) error {
	cp := cfg.ControlPlane
	xc := xdsclient.Config{Node: cfg.Node, Region: cfg.Locality.Region, Zone: cfg.Locality.Zone, Services: declaredServices(cfg), Inbound: inboundListener(cfg), Servers: cp.XDS, Apply: s.applyXDS, Observer: s.xdsMetrics, Logger: s.opts.Logger, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
	if cfg.Identity != nil {
		// The trust bundle arrives over SDS too, so a root rotation is
		// one push to every sidecar; the CSR answer's bundle bootstraps.
		xc.TrustBundle, xc.OnTrustBundle = sdsRootName, s.onTrustBundle
	}
	if trust != nil {
		// weft control admits an ADS stream by the sidecar's certificate:
		// wait for the first one (the cached config serves meanwhile).
		xc.TLS = trust.config()
		s.log.Info("waiting for the workload certificate before connecting to the control plane")
		if !waitSVID(ctx, &s.svid) {
			return nil
		}
	}
	c, err := xdsclient.New(xc)
	if err != nil {
		return fmt.Errorf("control plane %s: %w", strings.Join(cp.XDS, ","), err)
	}
	if s.learn != nil {
		s.learn.mu.Lock()
		s.learn.client = c
		s.learn.mu.Unlock()
	}
	s.log.Info("connecting to the control plane", "xds", strings.Join(cp.XDS, ","))
	return c.Run(ctx)
}

// declaredServices is what the sidecar asks the control plane for:
// controlPlane.services plus the services of its outbound ports, or nil
// (every service) when controlPlane.services is empty.
func declaredServices(cfg *Config) []string {
	if len(cfg.ControlPlane.Services) == 0 {
		return nil
	}
	out := append([]string(nil), cfg.ControlPlane.Services...)
	for _, p := range cfg.Outbound.Ports {
		if !slices.Contains(out, p.Service) {
			out = append(out, p.Service)
		}
	}
	return out
}

// clusterNames lists the names of cs, for Options.ControlPlaneApplied.
func clusterNames(cs []cluster.Config) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

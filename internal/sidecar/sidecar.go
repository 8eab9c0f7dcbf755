package sidecar

import (
	"context"
	"errors"
	"fmt"
	"github.com/weft-mesh/weft/internal/proxy/mirror"
	"log/slog"
	"net"
	"net/http"
	"os"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/weft-mesh/weft/internal/mtls"
	"github.com/weft-mesh/weft/internal/proxy"
	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// Options are the process-level inputs that are not mesh config.
type Options struct {
	Logger *slog.Logger // default: slog.Default()
	// ConfigPath, when set, is watched: a changed file is reloaded.
	ConfigPath string
	// WatchInterval is how often ConfigPath is checked. Default 1s.
	WatchInterval time.Duration
	// Ready, when set, receives the bound listener addresses once every
	// listener is accepting (tests and the demo bind port 0).
	Ready func(Addrs)
	// ControlPlane, when set, replaces the config's controlPlane at New and
	// at every reload: `weft proxy --resources DIR` serves DIR from a
	// control plane in the same process, on a loopback port the file
	// cannot know. Default nil: the file's controlPlane.
	ControlPlane *ControlPlane
	// ControlPlaneApplied, when set, is called after each config from the
	// control plane is accepted (not the cached copy loaded at start), with
	// its version and cluster names: `weft run` starts its app only once
	// the first has arrived. It runs on the xDS client's goroutine and must
	// not block. Default nil.
	ControlPlaneApplied func(version string, clusters []string)
}

// Addrs are the bound addresses of a running sidecar, by config field.
type Addrs struct {
	Admin    string
	Proxy    string
	Inbound  map[string]string // by inbound name
	Outbound map[string]string // by outbound port's service
	Capture  string            // outbound.capture's listener, if any
}

// active is one accepted config with its version.
type active struct {
	cfg     *Config
	version string
	loaded  time.Time
}

// Sidecar is one running data-plane process.
type Sidecar struct {
	opts    Options
	log     *slog.Logger
	reg     *prometheus.Registry
	metrics *telemetry.ProxyMetrics
	tel     *telemetryParts
	// mirror sends every listener's RequestMirror copies, so the
	// per-cluster bound on copies in flight is the sidecar's.
	mirror *mirror.Sender
	self   *proxy.Self // this workload, for metrics labels
	// xdsMetrics: stream up, last applied config and version, NACKs.
	xdsMetrics *telemetry.XDSMetrics

	reloadMu sync.Mutex // serialises reloads
	active   atomic.Pointer[active]
	seq      atomic.Int64
	outbound proxy.Runtime
	// dyn is the last control-plane config; with a control plane it, not
	// the file, defines the outbound services.
	dyn atomic.Pointer[dynamic]
	// learn is set when the sidecar declared its services: it then learns
	// further ones from its app's requests.
	learn *learner
	// renewNow asks the certificate client to renew now (rootca.go).
	renewNow chan struct{}
	// capture is set with outbound.capture: virtual IPs of the services.
	capture *capture
	inbound map[string]*inboundRuntimes
	// authz is the inbound authorization table from the control plane
	// (nil: allow all); every inbound state carries it.
	authz atomic.Pointer[authz.Table]
	// svid is the current workload certificate (identity config).
	svid mtls.Source
	// certs reports the certificate's state; nil without an identity.
	certs *certStatus
	// mesh is the mTLS state; nil without an identity.
	mesh *meshTLS

	serving  atomic.Bool
	draining atomic.Bool

	// fileStamp is the config file's state when New ran, so a change made
	// before the watcher starts is still seen.
	fileTime time.Time
	fileSize int64
}

// inboundRuntimes holds one state per downstream protocol, because an
// HTTP/2 peer is forwarded as HTTP/2 to an app that speaks it, and an
// HTTP/1.1 peer always as HTTP/1.1.
type inboundRuntimes struct {
	h1, h2 proxy.Runtime
}

// New validates cfg and builds the first proxy state. It binds nothing.
func New(cfg *Config, opts Options) (*Sidecar, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.WatchInterval <= 0 {
		opts.WatchInterval = time.Second
	}
	if opts.ControlPlane != nil {
		cfg.ControlPlane = opts.ControlPlane
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("new sidecar: %w", err)
	}
	reg := prometheus.NewRegistry()
	s := &Sidecar{
		renewNow:   make(chan struct{}, 1),
		opts:       opts,
		log:        opts.Logger.With("component", "sidecar"),
		reg:        reg,
		metrics:    telemetry.NewProxyMetricsWith(reg, cfg.Metrics.options()),
		self:       self(cfg),
		xdsMetrics: telemetry.NewXDSMetrics(reg),
		inbound:    map[string]*inboundRuntimes{},
	}
	s.mirror = mirror.New(mirror.Config{Observe: s.metrics.Mirror, Logger: s.log})
	for _, in := range cfg.Inbound {
		s.inbound[in.Name] = &inboundRuntimes{}
	}
	if c := cfg.Outbound.Capture; c != nil {
		s.capture = &capture{s: s, vips: newVIPTable(), file: c.HostsFile}
	}
	if opts.ConfigPath != "" {
		s.fileTime, s.fileSize = s.stamp()
	}
	tel, err := newTelemetry(cfg, s.log, reg)
	if err != nil {
		return nil, fmt.Errorf("new sidecar: %w", err)
	}
	s.tel = tel
	telemetry.RegisterPoolStats(reg, s.poolStats)
	telemetry.RegisterClusterStats(reg, s.clusterStats)
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := s.apply(cfg); err != nil {
		return nil, fmt.Errorf("new sidecar: %w", err)
	}
	if cfg.Identity != nil {
		reg.MustRegister(s.certExpiryMetric())
		s.certs = newCertStatus(&s.svid, cfg.Identity.WarnBefore)
		reg.MustRegister(s.certs.metrics()...)
		s.mesh = s.newMeshTLS()
	}
	if cfg.ControlPlane == nil && cfg.Upstream == nil && (cfg.Outbound.Proxy != "" || len(cfg.Outbound.Ports) > 0) {
		s.log.Warn("outbound listeners have no services to route to: set controlPlane, run with --resources DIR, or use quick mode (--upstream)")
	}
	if cfg.ControlPlane != nil && len(cfg.ControlPlane.Services) > 0 {
		s.learn = newLearner(declaredServices(cfg))
	}
	if cfg.ControlPlane != nil && cfg.ControlPlane.CacheDir != "" {
		s.loadCache(cfg.ControlPlane.CacheDir, cfg.Node)
	}
	return s, nil
}

// Reload swaps in a new config. Listener addresses cannot change without a
// restart; such a config is refused and the running one stays.
func (s *Sidecar) Reload(cfg *Config) error {
	if s.opts.ControlPlane != nil {
		cfg.ControlPlane = s.opts.ControlPlane
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	cur := s.active.Load().cfg
	if !reflect.DeepEqual(listenersOf(cur), listenersOf(cfg)) || cur.Admin != cfg.Admin {
		return errors.New("reload: listener addresses changed (admin, inbound, outbound): restart the sidecar to apply them")
	}
	if metricsChanged(cur, cfg) {
		return errMetricsChanged
	}
	if err := s.apply(cfg); err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return nil
}

// ReloadFile reads Options.ConfigPath and reloads it.
func (s *Sidecar) ReloadFile() error {
	cfg, err := Load(s.opts.ConfigPath)
	if err != nil {
		return fmt.Errorf("reload: %w", err)
	}
	return s.Reload(cfg)
}

type listenerSet struct {
	Inbound  []Inbound
	Outbound Outbound
}

// listenersOf is what a reload may not change. An inbound's mtls mode is
// not part of it: it is read at each accept (inboundMode), so a reload
// switches a port between STRICT and PERMISSIVE from its next connection.
func listenersOf(c *Config) listenerSet {
	in := make([]Inbound, len(c.Inbound))
	for i, b := range c.Inbound {
		b.MTLS = ""
		in[i] = b
	}
	return listenerSet{Inbound: in, Outbound: c.Outbound}
}

// apply builds every state for cfg first and swaps them in only when all
// succeeded, so a bad config changes nothing.
func (s *Sidecar) apply(cfg *Config) error {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	version := strconv.FormatInt(s.seq.Add(1), 10)
	var out *proxy.State
	var err error
	if cfg.ControlPlane != nil {
		var d dynamic
		if cur := s.dyn.Load(); cur != nil {
			d = *cur
		}
		out, err = buildState("xds-"+d.Version, d.Routes, s.withMeshTLS(d.Clusters), s.outbound.Load(), s.clusterOptions(cfg)...)
	} else {
		s.dyn.Store(nil)
		out, err = outboundState(cfg, version, s.outbound.Load())
	}
	if err != nil {
		return err
	}
	type pending struct {
		rt *proxy.Runtime
		st *proxy.State
	}
	var swaps []pending
	for _, in := range cfg.Inbound {
		rts := s.inbound[in.Name]
		// auto: each request keeps its version, and HTTP/2 falls back to
		// HTTP/1.1 when the app turns out to speak only that.
		h1proto, h2proto := cluster.HTTP1, cluster.Auto
		switch in.Protocol {
		case "http":
			h2proto = cluster.HTTP1
		case "http2":
			h1proto, h2proto = cluster.HTTP2, cluster.HTTP2
		}
		st1, err := inboundState(in, h1proto, version, rts.h1.Load())
		if err != nil {
			return err
		}
		st2, err := inboundState(in, h2proto, version, rts.h2.Load())
		if err != nil {
			return err
		}
		st1.Authz, st2.Authz = s.authz.Load(), s.authz.Load()
		swaps = append(swaps, pending{&rts.h1, st1}, pending{&rts.h2, st2})
	}
	swaps = append(swaps, pending{&s.outbound, out})
	for _, p := range swaps {
		if old := p.rt.Store(p.st); old != nil {
			cluster.Retire(old.Clusters, p.st.Clusters)
		}
	}
	s.active.Store(&active{cfg: cfg, version: version, loaded: time.Now()})
	s.log.Info("config applied", "version", version)
	return nil
}

// Run serves until ctx is cancelled, then drains: readiness fails at once,
// the instance is deregistered, the listeners keep serving for DrainDelay,
// then stop accepting, and in-flight requests finish within DrainTimeout.
func (s *Sidecar) Run(ctx context.Context) error {
	cfg := s.active.Load().cfg
	ls, addrs, err := s.bind(cfg)
	if err != nil {
		return err
	}
	admin := s.newAdminServer()
	var adminLn net.Listener
	if cfg.Admin != "off" {
		adminLn, err = listenAdmin(cfg.Admin)
		if err != nil {
			ls.closeAll()
			return err
		}
		addrs.Admin = adminLn.Addr().String()
	}
	var trust *cpTrust
	if cfg.Identity != nil {
		if trust, err = newCPTrust(&s.svid, cfg.ControlPlane.CAFile); err != nil {
			ls.closeAll()
			if adminLn != nil {
				adminLn.Close()
			}
			return err
		}
	}
	var reg *registrar
	if cfg.Register != nil {
		if reg, err = s.newRegistrar(cfg, addrs, trust); err != nil {
			ls.closeAll()
			if adminLn != nil {
				adminLn.Close()
			}
			return err
		}
	}
	var wg sync.WaitGroup
	serveCtx, stopServe := context.WithCancel(context.Background())
	defer stopServe()
	telCtx, stopTel := context.WithCancel(context.Background())
	telDone := make(chan struct{})
	go func() { defer close(telDone); s.tel.run(telCtx) }()
	defer func() {
		// Spans and log lines of the drained requests go out last,
		// bounded: a collector that is gone must not hold up the exit.
		stopTel()
		t := time.NewTimer(flushTimeout)
		defer t.Stop()
		select {
		case <-telDone:
		case <-t.C:
		}
	}()
	errc := make(chan error, len(ls.items)+1)
	for _, l := range ls.items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Serve(serveCtx); err != nil {
				errc <- err
			}
		}()
	}
	if adminLn != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := admin.Serve(adminLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("admin: %w", err)
			}
		}()
	}
	regCtx, stopReg := context.WithCancel(context.Background())
	regDone := make(chan struct{})
	if reg != nil {
		go func() { defer close(regDone); reg.run(regCtx) }()
	} else {
		close(regDone)
	}
	if cfg.Identity != nil {
		cc, err := s.newCertClient(cfg, trust)
		if err != nil {
			errc <- err
		} else {
			cc.renewNow = s.renewNow
			wg.Add(1)
			go func() { defer wg.Done(); cc.run(serveCtx) }()
		}
	}
	if cfg.ControlPlane != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.runXDS(serveCtx, cfg, trust); err != nil {
				errc <- err
			}
		}()
	}
	s.serving.Store(true)
	s.log.Info("sidecar serving", "node", cfg.Node, "admin", addrs.Admin, "proxy", addrs.Proxy)
	if s.opts.Ready != nil {
		s.opts.Ready(addrs)
	}
	if s.opts.ConfigPath != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.watch(serveCtx)
		}()
	}
	var runErr error
	select {
	case <-ctx.Done():
	case runErr = <-errc:
	}
	// Readiness fails at once; then deregister, and keep accepting and
	// serving for the drain delay, because callers learn of the removal
	// only when the control plane's push reaches them: a listener closed
	// before that refuses whoever picked this instance meanwhile.
	s.draining.Store(true)
	stopReg()
	<-regDone
	lim := s.active.Load().cfg.Limits
	if runErr == nil {
		s.holdOpen(lim.DrainDelay)
	}
	s.drain(ls, lim.DrainTimeout)
	stopServe()
	s.tel.tap.close()
	adminCtx, cancel := context.WithTimeout(context.Background(), time.Second)
	admin.Shutdown(adminCtx)
	cancel()
	wg.Wait()
	return runErr
}

// holdOpen serves on for the drain delay after deregistration. The
// sidecar cannot see its callers' ACKs of the removal, so a bounded time
// window stands in for them.
func (s *Sidecar) holdOpen(delay time.Duration) {
	if delay <= 0 {
		return
	}
	s.log.Info("still serving while callers learn of the deregistration", "drainDelay", delay)
	t := time.NewTimer(delay)
	defer t.Stop()
	<-t.C
}

func (s *Sidecar) drain(ls *boundListeners, timeout time.Duration) {
	s.log.Info("draining", "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range ls.items {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := l.Shutdown(ctx); err != nil {
				s.log.Warn("drain cut short", "listener", l.name, "err", err)
			}
		}()
	}
	wg.Wait()
	s.log.Info("drained")
}

// watch reloads the config file when its size or modification time changes.
func (s *Sidecar) watch(ctx context.Context) {
	lastT, lastN := s.fileTime, s.fileSize
	t := time.NewTicker(s.opts.WatchInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		mt, n := s.stamp()
		if mt.Equal(lastT) && n == lastN {
			continue
		}
		lastT, lastN = mt, n
		if err := s.ReloadFile(); err != nil {
			s.log.Error("config file changed but was rejected; the running config stays", "err", err)
		}
	}
}

// poolStats reads every upstream pool of the current states, for /metrics.
func (s *Sidecar) poolStats() []telemetry.PoolStat {
	var out []telemetry.PoolStat
	add := func(st *proxy.State) {
		if st == nil {
			return
		}
		for _, name := range st.Clusters.Names() {
			for _, ep := range st.Clusters.Get(name).Endpoints {
				open, idle := ep.Pool.Stats()
				out = append(out, telemetry.PoolStat{Service: name, Endpoint: ep.Address, Open: open, Idle: idle})
			}
		}
	}
	add(s.outbound.Load())
	for _, rts := range s.inbound {
		add(rts.h1.Load())
	}
	return out
}

func (s *Sidecar) stamp() (time.Time, int64) {
	fi, err := os.Stat(s.opts.ConfigPath)
	if err != nil {
		return time.Time{}, -1
	}
	return fi.ModTime(), fi.Size()
}

func sortedNames(n []string) []string {
	sort.Strings(n)
	return n
}

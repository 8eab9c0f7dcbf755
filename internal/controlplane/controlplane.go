// Package controlplane is the control plane's composition root: it opens
// the store (embedded etcd or an external cluster), and runs the registry,
// the config store with its history, the translator feeding the xDS server,
// and the admin API.
package controlplane

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-mesh/weft/internal/api"
	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/meshstats"
	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/store"
	"github.com/weft-mesh/weft/internal/xds/server"
)

// Config configures one control-plane replica. Zero values are defaults.
type Config struct {
	// DataDir holds the embedded etcd's data. Used when EtcdEndpoints is
	// empty. Default: DefaultDataDir() ($XDG_STATE_HOME/weft, else
	// ~/.local/state/weft).
	DataDir string
	// EtcdEndpoints, when set, use an external etcd cluster instead; every
	// replica pointed at it shares one state.
	EtcdEndpoints []string
	// EtcdTLS authenticates to the external etcd cluster and checks it
	// (https:// endpoints): the CA bundle and a client certificate and
	// key. The CA's private key and the operator token's hash live in
	// etcd, so a cluster reached over a network should demand both.
	EtcdTLS store.EtcdTLS
	// XDS is the ADS gRPC listener. Default 127.0.0.1:15010.
	XDS string
	// API is the admin API listener. Default 127.0.0.1:15080.
	API string
	// Dashboard is the web dashboard's listener (the page and the admin
	// API under /v1/); "" or "off" turns it off, which is the default
	// here (weft control's --dashboard defaults to DefaultDashboard). On
	// a loopback address it serves plain HTTP, elsewhere TLS with the
	// serving certificate.
	Dashboard string
	// LeaseTTL is how long an instance outlives its sidecar's last
	// heartbeat. Default 10s.
	LeaseTTL time.Duration
	// StreamGrace is how long an instance's sidecar may be without an xDS
	// stream (and a heartbeat) before the instance leaves rotation, long
	// before its lease expires. Default 2s.
	StreamGrace time.Duration
	// HistoryLimit is how many config revisions are kept for rollback.
	// Default 100.
	HistoryLimit int
	// StatsInterval is how often the control plane scrapes every
	// registered sidecar's admin /metrics for the mesh's golden signals
	// (GET /v1/stats, weft stat, weft edges); 0 takes the default 5s, a
	// negative value turns scraping off.
	StatsInterval time.Duration
	// StatsWindow is how far back those signals reach. Default 1m.
	StatsWindow time.Duration
	// CompactInterval is how often the store's old revisions are
	// compacted, so etcd's space quota never fills. Default 5m.
	CompactInterval time.Duration
	// CompactRetain is how many of the newest store revisions compaction
	// keeps (for watches resuming after a blip; the config history is kept
	// apart, see HistoryLimit). Default 10000.
	CompactRetain int64
	// TrustDomain names this mesh in every workload's SPIFFE ID
	// (spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT). Default weft.local.
	// Replicas sharing a store must agree, and a generated root is bound
	// to it: changing it needs an empty store or an operator CA.
	TrustDomain string
	// CACert and CAKey, both set, are files holding the operator's signing
	// certificate chain (PEM, signing certificate first, ending with the
	// root) and its key. Default: none; a root (ECDSA P-256, 10 years) is
	// made on first start and kept in the store.
	CACert, CAKey string
	// SVIDTTL is the lifetime of workload certificates; sidecars renew at
	// half of it. Default 24h.
	SVIDTTL time.Duration
	// RootOverlap is how long, in a root rotation (weft ca rotate), the old
	// root stays in the trust bundle after the new one starts signing;
	// then it is dropped and leaves it signed are refused. Sidecars renew
	// onto the new root as soon as their bundle names it the signer, so
	// the overlap only has to outlast sidecars that are away. Default
	// SVIDTTL: by then every leaf of the old root has expired anyway.
	RootOverlap time.Duration
	// RootPropagation caps the wait, in a root rotation, for every
	// connected sidecar to ACK the bundle holding both roots before the
	// new root starts signing. Default 1m.
	RootPropagation time.Duration
	// CredentialsDir is where the control plane writes ca.pem (the trust
	// bundle clients verify it with) and, when it makes one,
	// operator.token (mode 0600). Default DataDir, or DefaultDataDir()
	// with external etcd.
	CredentialsDir string
	// ServerNames are extra DNS names or IP addresses the serving
	// certificate covers, besides the listeners' hosts, localhost,
	// 127.0.0.1 and ::1 (and the host name and interface addresses when
	// a listener binds every address). Default none.
	ServerNames []string
	// ResetOperatorToken replaces the operator token at start (the old
	// one stops working within 2s on every replica) and writes the new
	// one to CredentialsDir/operator.token.
	ResetOperatorToken bool
	// MaxConnsPerIP caps one peer address's open connections on each of
	// the xDS, API and dashboard ports. Default 1024.
	MaxConnsPerIP int
	// MaxStreamsPerConn caps the concurrent gRPC streams one xDS
	// connection may open. Default 16.
	MaxStreamsPerConn int
	// MaxAPIInFlight caps the API requests handled at once; more get 503.
	// Default 64.
	MaxAPIInFlight int
	// FastTicks shortens the embedded etcd's raft ticks (tests).
	FastTicks bool
	// Logger receives the control plane's log, etcd's included. Default
	// slog.Default().
	Logger *slog.Logger
	// Ready, when set, receives the bound addresses once serving.
	Ready func(Addrs)

	// wrapStore, when set (tests), wraps the opened store.
	wrapStore func(store.Store) store.Store
}

// Addrs are a running control plane's bound addresses.
type Addrs struct {
	XDS, API string
	// CAFile is the trust bundle clients verify the control plane with;
	// OperatorTokenFile where the operator token is (if this replica or
	// an earlier start wrote it).
	CAFile, OperatorTokenFile string
	// Dashboard is the dashboard's bound address and DashboardURL where a
	// browser opens it; both "" when it is off. See DashboardLink.
	Dashboard, DashboardURL string
}

// SetDefaults fills the documented defaults.
func (c *Config) SetDefaults() {
	if c.DataDir == "" && len(c.EtcdEndpoints) == 0 {
		c.DataDir = DefaultDataDir()
	}
	if c.XDS == "" {
		c.XDS = "127.0.0.1:15010"
	}
	if c.API == "" {
		c.API = "127.0.0.1:15080"
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = registry.DefaultTTL
	}
	if c.RootPropagation == 0 {
		c.RootPropagation = DefaultRootPropagation
	}
	if c.StreamGrace <= 0 {
		c.StreamGrace = DefaultStreamGrace
	}
	if c.HistoryLimit <= 0 {
		c.HistoryLimit = 100
	}
	if c.CompactInterval <= 0 {
		c.CompactInterval = 5 * time.Minute
	}
	if c.CompactRetain <= 0 {
		c.CompactRetain = 10000
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.CredentialsDir == "" {
		c.CredentialsDir = c.DataDir
		if c.CredentialsDir == "" {
			c.CredentialsDir = DefaultDataDir()
		}
	}
	if c.MaxConnsPerIP <= 0 {
		c.MaxConnsPerIP = DefaultMaxConnsPerIP
	}
	if c.MaxStreamsPerConn <= 0 {
		c.MaxStreamsPerConn = DefaultMaxStreamsPerConn
	}
	if c.MaxAPIInFlight <= 0 {
		c.MaxAPIInFlight = apiserver.DefaultMaxInFlight
	}
}

// DefaultMaxStreamsPerConn is Config.MaxStreamsPerConn's default: a
// sidecar needs one ADS stream, a proxyless client one or two.
const DefaultMaxStreamsPerConn = 16

// Validate reports every invalid field.
func (c *Config) Validate() error {
	var errs []error
	for _, f := range []struct{ name, addr string }{{"xds", c.XDS}, {"api", c.API}} {
		if _, _, err := net.SplitHostPort(f.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: must be host:port; got %q", f.name, f.addr))
		}
	}
	if !dashboardOff(c.Dashboard) {
		if _, _, err := net.SplitHostPort(c.Dashboard); err != nil {
			errs = append(errs, fmt.Errorf("dashboard: must be host:port, or off; got %q", c.Dashboard))
		}
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("leaseTTL: must be at least 1s; got %s", c.LeaseTTL))
	}
	if c.StreamGrace < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("streamGrace: must be at least 100ms; got %s", c.StreamGrace))
	}
	if c.RootOverlap < 0 {
		errs = append(errs, fmt.Errorf("rootOverlap: must not be negative (0 means svidTTL); got %s", c.RootOverlap))
	}
	if c.RootPropagation < 0 {
		errs = append(errs, fmt.Errorf("rootPropagation: must not be negative; got %s", c.RootPropagation))
	}
	if c.CredentialsDir == "" {
		errs = append(errs, errors.New("credentialsDir: no default, since neither XDG_STATE_HOME nor HOME is set; pass --credentials-dir"))
	}
	if c.EtcdTLS.Enabled() && len(c.EtcdEndpoints) == 0 {
		errs = append(errs, errors.New("etcdTLS: the etcd CA, certificate and key files are for an external cluster; pass --etcd-endpoints too"))
	}
	if (c.EtcdTLS.CertFile == "") != (c.EtcdTLS.KeyFile == "") {
		errs = append(errs, errors.New("etcdTLS: --etcd-certfile and --etcd-keyfile go together"))
	}
	if c.DataDir == "" && len(c.EtcdEndpoints) == 0 {
		errs = append(errs, errors.New("dataDir: no default, since neither XDG_STATE_HOME nor HOME is set; pass --data-dir or --etcd-endpoints"))
	}
	return errors.Join(errs...)
}

// DefaultDataDir is where the embedded etcd keeps its state when no
// directory is given: $XDG_STATE_HOME/weft, else ~/.local/state/weft (the
// XDG base directory for state that survives restarts), or "" when
// neither variable is set.
func DefaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "weft")
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "weft")
	}
	return ""
}

func openStore(ctx context.Context, c *Config, log *slog.Logger) (store.Store, error) {
	var st store.Store
	var err error
	if len(c.EtcdEndpoints) > 0 {
		log.Info("connecting to etcd", "endpoints", c.EtcdEndpoints)
		st, err = store.OpenRemoteTLS(ctx, c.EtcdEndpoints, c.EtcdTLS, 0, c.Logger)
	} else {
		if abs, aerr := filepath.Abs(c.DataDir); aerr == nil {
			c.DataDir = abs
		}
		log.Info("starting embedded etcd", "dataDir", c.DataDir)
		st, err = store.OpenEmbedded(ctx, store.EmbeddedConfig{DataDir: c.DataDir, FastTicks: c.FastTicks, Logger: c.Logger})
	}
	if err != nil || c.wrapStore == nil {
		return st, err
	}
	return c.wrapStore(st), nil
}

// Run serves until ctx ends.
func Run(ctx context.Context, cfg Config) error {
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("control plane config: %w", err)
	}
	log := cfg.Logger.With("component", "control")
	st, err := openStore(ctx, &cfg, log)
	if err != nil {
		return err
	}
	// Closed last, after every part that uses it has returned.
	defer st.Close()

	authority, err := ca.Open(ctx, st, ca.Config{TrustDomain: cfg.TrustDomain, CertFile: cfg.CACert, KeyFile: cfg.CAKey, TTL: cfg.SVIDTTL, Logger: cfg.Logger})
	if err != nil {
		return err
	}
	if err := ensureOperator(ctx, st, cfg.CredentialsDir, cfg.ResetOperatorToken, log); err != nil {
		return err
	}
	caFile, err := writeCAFile(cfg.CredentialsDir, authority)
	if err != nil {
		return err
	}
	listeners := []string{cfg.XDS, cfg.API}
	if !dashboardOff(cfg.Dashboard) {
		listeners = append(listeners, cfg.Dashboard)
	}
	names := serverNames(listeners, cfg.ServerNames)
	sc, err := newServerCert(authority, names, ca.ServerTTL, log)
	if err != nil {
		return err
	}
	apiTLS, xdsTLS := tlsConfigs(sc, authority)
	overlap := cfg.RootOverlap
	if overlap <= 0 {
		overlap = authority.TTL()
	}
	reg := registry.New(st, cfg.LeaseTTL)
	acc := &access{op: &operatorAuth{st: st}, ca: authority, reg: reg}
	cs := &configStore{st: st, historyLimit: cfg.HistoryLimit, now: time.Now}
	xds := server.New(cfg.Logger)
	sy := newSyncer(st, cs, reg, xds, cfg.Logger)
	sy.trustDomain = authority.TrustDomain().String()
	sy.ca = authority
	// ca.pem follows the bundle: both roots during a rotation's overlap,
	// so the CLI and sidecars reading it trust the serving certificate
	// whichever root signed it.
	sy.onBundle = func([]byte) {
		if _, err := writeCAFile(cfg.CredentialsDir, authority); err != nil {
			log.Warn("ca.pem not rewritten", "err", err)
		}
	}
	sy.rot = &rotator{ca: authority, sy: sy, xds: xds, overlap: overlap, propagation: cfg.RootPropagation, settle: min(rotationSettle, cfg.RootPropagation), log: log.With("part", "rotation")}
	sy.live = newLiveness(reg, cfg.StreamGrace, replicaID(&cfg), cfg.Logger)
	xds.SetHooks(server.Hooks{Authorize: acc.authorizeStream, OnConnect: sy.connected, OnDisconnect: sy.disconnected, OnListeners: sy.listeners})
	stats := meshstats.New(meshstats.Config{
		Instances: func(ctx context.Context) ([]api.Instance, error) { return allInstances(ctx, reg) },
		Interval:  cfg.StatsInterval, Window: cfg.StatsWindow, Logger: cfg.Logger,
		SPIFFEID: workloadID(authority.TrustDomain()),
	})
	be := &backend{cs: cs, reg: reg, xds: xds, ttl: int64((cfg.LeaseTTL + time.Second - 1) / time.Second),
		certs: newCerts(authority, ca.NewTokens(st, nil)), stats: stats}
	be.tap = newTapper(be, &cfg)

	xl, err := listen(cfg.XDS, cfg.MaxConnsPerIP)
	if err != nil {
		return fmt.Errorf("xds listener: %w", err)
	}
	al, err := listen(cfg.API, cfg.MaxConnsPerIP)
	if err != nil {
		xl.Close()
		return fmt.Errorf("api listener: %w", err)
	}
	gs := grpc.NewServer(append(xds.ServerOptions(),
		grpc.Creds(credentials.NewTLS(xdsTLS)),
		// One connection cannot open thousands of streams (each holds a
		// goroutine and buffers), nor stall in its handshake.
		grpc.MaxConcurrentStreams(uint32(cfg.MaxStreamsPerConn)),
		grpc.ConnectionTimeout(10*time.Second),
		// Stop returns only once every ADS handler has, so none reaches
		// the syncer (and the store) after Run closes it.
		grpc.WaitForHandlers(true),
		grpc.MaxRecvMsgSize(4<<20),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)...)
	xds.Register(gs)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var handlers sync.WaitGroup
	// One handler for both ports: the in-flight cap is the control
	// plane's, not each port's.
	apiHandler := apiserver.Handler(be, apiserver.Config{Auth: acc, MaxInFlight: cfg.MaxAPIInFlight, Logger: cfg.Logger})
	var dash *dashboardServer
	if !dashboardOff(cfg.Dashboard) {
		if dash, err = newDashboard(ctx, &cfg, apiHandler, names, apiTLS, &handlers); err != nil {
			xl.Close()
			al.Close()
			return err
		}
	}
	hs := httpServer(ctx, cfg.Logger, "api", tracked(&handlers, apiHandler))
	hs.TLSConfig = apiTLS

	cp := &compactor{st: st, interval: cfg.CompactInterval, retain: cfg.CompactRetain, log: log}
	var parts sync.WaitGroup
	errc := make(chan error, 6)
	serving := []func() error{
		func() error { return gs.Serve(xl) },
		func() error { return hs.ServeTLS(al, "", "") },
		func() error { return sy.run(ctx) },
		func() error { return cp.run(ctx) },
		func() error {
			if cfg.StatsInterval >= 0 {
				stats.Run(ctx)
			}
			// Scraping off: wait, since a part that returns stops Run.
			<-ctx.Done()
			return nil
		},
	}
	if dash != nil {
		serving = append(serving, dash.serve)
	}
	for _, part := range serving {
		parts.Add(1)
		go func() {
			defer parts.Done()
			errc <- part()
		}()
	}

	addrs := Addrs{XDS: xl.Addr().String(), API: al.Addr().String(), CAFile: caFile, OperatorTokenFile: filepath.Join(cfg.CredentialsDir, OperatorTokenFile)}
	if dash != nil {
		addrs.Dashboard, addrs.DashboardURL = dash.l.Addr().String(), dash.url
	}
	log.Info("control plane serving", "xds", addrs.XDS, "api", addrs.API, "store", storeName(&cfg), "caFile", caFile)
	if dash != nil {
		how := "plain HTTP on loopback; writes need the operator token"
		if dash.tls {
			how = "TLS with the control plane's certificate (its CA is " + caFile + "); reads and writes need the operator token"
		}
		log.Info("dashboard serving", "url", addrs.DashboardURL, "how", how)
	}
	if cfg.Ready != nil {
		cfg.Ready(addrs)
	}
	select {
	case <-ctx.Done():
	case err = <-errc:
		log.Error("control plane part failed", "err", err)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if hs.Shutdown(sctx) != nil {
		hs.Close() // past the grace period: cut the stragglers off
	}
	if dash != nil && dash.hs.Shutdown(sctx) != nil {
		dash.hs.Close()
	}
	// ADS streams never end on their own, so a graceful stop would only
	// wait; sidecars keep their config and reconnect to another replica.
	gs.Stop()
	parts.Wait()
	handlers.Wait()
	log.Info("control plane stopped")
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}

func listen(addr string, perIP int) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return limitPerIP(l, perIP), nil
}

// tracked counts the handlers running, so Run can wait for them: Shutdown
// stops waiting at its deadline, and Close does not wait at all.
func tracked(wg *sync.WaitGroup, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wg.Add(1)
		defer wg.Done()
		h.ServeHTTP(w, r)
	})
}

func storeName(c *Config) string {
	if len(c.EtcdEndpoints) > 0 {
		return fmt.Sprintf("etcd %v", c.EtcdEndpoints)
	}
	return "embedded etcd in " + c.DataDir
}

// httpServer is the API's and the dashboard's server: bounded header,
// read, write and idle times, the server's errors at debug level, and
// requests in flight cancelled with ctx when the control plane stops.
func httpServer(ctx context.Context, log *slog.Logger, component string, h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ErrorLog:          slog.NewLogLogger(log.With("component", component).Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
	}
}

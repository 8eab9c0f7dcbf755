package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"
)

// EmbeddedConfig configures the single-node etcd that runs inside the
// control plane. Zero values are safe defaults.
type EmbeddedConfig struct {
	// DataDir holds the database; state survives restarts. Required.
	DataDir string
	// ClientAddr and PeerAddr are loopback host:port; port 0 picks a free one.
	ClientAddr, PeerAddr string
	// FastTicks shortens raft's heartbeat and election (tests): 10ms/100ms
	// instead of 100ms/1s.
	FastTicks bool
	// StartTimeout bounds waiting for the server to be ready. Zero means 30s.
	StartTimeout time.Duration
	// Logger receives etcd's warnings and errors (component=etcd), so the
	// reason a start or a write fails is logged. Default slog.Default().
	Logger *slog.Logger
}

// OpenEmbedded starts an embedded etcd and returns the same Store as
// OpenRemote, connected to it. Close stops the server.
func OpenEmbedded(ctx context.Context, c EmbeddedConfig) (*Etcd, error) {
	if c.DataDir == "" {
		return nil, errors.New("open embedded etcd: DataDir is required")
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 30 * time.Second
	}
	clientAddr, err := resolvePort(c.ClientAddr)
	if err != nil {
		return nil, fmt.Errorf("open embedded etcd: client address: %w", err)
	}
	peerAddr, err := resolvePort(c.PeerAddr)
	if err != nil {
		return nil, fmt.Errorf("open embedded etcd: peer address: %w", err)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	// etcd wants its directory private to the user (it warns otherwise).
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("open embedded etcd: %w", err)
	}
	cfg := embed.NewConfig()
	cfg.Dir = c.DataDir
	cfg.Name = "weft"
	cfg.LogLevel = "warn"
	cfg.Logger = "zap"
	zl, quiet := newZapLogger(c.Logger.With("component", "etcd"), zapcore.WarnLevel)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl)
	cu := url.URL{Scheme: "http", Host: clientAddr}
	pu := url.URL{Scheme: "http", Host: peerAddr}
	cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{cu}, []url.URL{cu}
	cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{pu}, []url.URL{pu}
	cfg.InitialCluster = cfg.Name + "=" + pu.String()
	cfg.MaxRequestBytes = 4 << 20
	if c.FastTicks {
		cfg.TickMs, cfg.ElectionMs = 10, 100
	}
	srv, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, fmt.Errorf("open embedded etcd: %w", err)
	}
	stop := func() {
		quiet.Store(true)
		srv.Close()
	}
	timer := time.NewTimer(c.StartTimeout)
	defer timer.Stop()
	select {
	case <-srv.Server.ReadyNotify():
	case err := <-srv.Err():
		stop()
		return nil, fmt.Errorf("open embedded etcd: %w", err)
	case <-timer.C:
		stop()
		return nil, fmt.Errorf("open embedded etcd: not ready within %v", c.StartTimeout)
	case <-ctx.Done():
		stop()
		return nil, fmt.Errorf("open embedded etcd: %w", ctx.Err())
	}
	st, err := OpenRemote(ctx, []string{cu.String()}, 5*time.Second, c.Logger)
	if err != nil {
		stop()
		return nil, err
	}
	st.onClose = stop
	return st, nil
}

// resolvePort turns "127.0.0.1:0" into a concrete free port, because etcd
// must advertise the address it listens on. Default 127.0.0.1:0.
func resolvePort(addr string) (string, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if port != "0" {
		return addr, nil
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

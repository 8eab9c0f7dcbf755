//go:build !proxyonly

package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/controlplane"
)

func runControl(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("control", stderr)
	var cfg controlplane.Config
	fs.StringVar(&cfg.DataDir, "data-dir", "", "embedded etcd's data directory, where state survives restarts (default $XDG_STATE_HOME/weft, else ~/.local/state/weft)")
	endpoints := fs.String("etcd-endpoints", "", "comma-separated external etcd endpoints; replicas pointed at one cluster share its state (HA)")
	fs.StringVar(&cfg.EtcdTLS.CAFile, "etcd-cafile", "", "PEM CA bundle the external etcd's serving certificate must chain to (https:// endpoints; default: the system's roots)")
	fs.StringVar(&cfg.EtcdTLS.CertFile, "etcd-certfile", "", "PEM client certificate for an external etcd started with --client-cert-auth (with --etcd-keyfile)")
	fs.StringVar(&cfg.EtcdTLS.KeyFile, "etcd-keyfile", "", "PEM private key of --etcd-certfile")
	fs.StringVar(&cfg.XDS, "xds", "127.0.0.1:15010", "ADS (xDS over gRPC) listener for sidecars")
	fs.StringVar(&cfg.API, "api", "127.0.0.1:15080", "admin API listener for the CLI and sidecar registration")
	fs.StringVar(&cfg.Dashboard, "dashboard", controlplane.DefaultDashboard, "web dashboard listener (the page and the admin API under /v1/): plain HTTP on a loopback address, TLS with the control plane's certificate elsewhere; \"off\" turns it off")
	fs.DurationVar(&cfg.LeaseTTL, "lease-ttl", 10*time.Second, "how long an instance outlives its sidecar's last heartbeat")
	fs.DurationVar(&cfg.StreamGrace, "stream-grace", 2*time.Second, "how long an instance's sidecar may be without an xDS stream or heartbeat before the instance leaves rotation")
	fs.IntVar(&cfg.HistoryLimit, "history", 100, "config revisions kept for rollback")
	fs.StringVar(&cfg.TrustDomain, "trust-domain", "weft.local", "trust domain of every workload's SPIFFE ID (spiffe://TRUST_DOMAIN/ns/NS/sa/SERVICE)")
	fs.StringVar(&cfg.CACert, "ca-cert", "", "operator CA: PEM signing certificate, then intermediates, ending with the root (default: a root made on first start, kept in the store)")
	fs.StringVar(&cfg.CAKey, "ca-key", "", "operator CA: PEM private key of --ca-cert's first certificate")
	fs.DurationVar(&cfg.StatsInterval, "stats-interval", 5*time.Second, "how often the sidecars' /metrics are scraped for weft stat and weft edges (negative: never)")
	fs.DurationVar(&cfg.StatsWindow, "stats-window", time.Minute, "how far back weft stat and weft edges reach")
	fs.DurationVar(&cfg.SVIDTTL, "svid-ttl", 24*time.Hour, "lifetime of workload certificates; sidecars renew at half of it")
	fs.DurationVar(&cfg.RootOverlap, "root-overlap", 0, "in a root rotation, how long the old root stays trusted after the new one signs (0: --svid-ttl)")
	fs.DurationVar(&cfg.RootPropagation, "root-propagation", controlplane.DefaultRootPropagation, "in a root rotation, the longest wait for every sidecar to ACK the new bundle before the new root signs")
	fs.StringVar(&cfg.CredentialsDir, "credentials-dir", "", "where ca.pem (the CA bundle clients verify this control plane with) and operator.token (0600) are written (default: --data-dir, or the default data dir with --etcd-endpoints)")
	serverNames := fs.String("server-names", "", "comma-separated extra DNS names or IPs for the serving certificate (the listeners' hosts, localhost, 127.0.0.1 and ::1 are always in it)")
	fs.BoolVar(&cfg.ResetOperatorToken, "reset-operator-token", false, "replace the operator token (the old one stops working) and write the new one to CREDENTIALS_DIR/operator.token")
	fs.IntVar(&cfg.MaxConnsPerIP, "max-conns-per-ip", 1024, "open connections one peer address may hold on each of the xDS, API and dashboard ports")
	fs.IntVar(&cfg.MaxStreamsPerConn, "max-streams-per-conn", 16, "concurrent gRPC streams one xDS connection may open")
	fs.IntVar(&cfg.MaxAPIInFlight, "max-api-in-flight", 64, "API requests handled at once; more are answered 503")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: weft control [--data-dir DIR | --etcd-endpoints a,b,c] [--xds ADDR] [--api ADDR]")
		fs.PrintDefaults()
		return errUsage
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	if *endpoints != "" {
		cfg.EtcdEndpoints = strings.Split(*endpoints, ",")
		cfg.DataDir = ""
	}
	if *serverNames != "" {
		cfg.ServerNames = strings.Split(*serverNames, ",")
	}
	cfg.Logger = log
	return controlplane.Run(ctx, cfg)
}

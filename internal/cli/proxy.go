package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// resourceFeed serves `--resources DIR` to the sidecar: a control plane of
// one in this process (full build only; see resources_feed.go).
type resourceFeed interface {
	// addr is the loopback ADS address the sidecar connects to.
	addr() string
	// reload re-reads the directory; on error the running config stays.
	reload(ctx context.Context) error
	// run serves until ctx ends, re-reading the directory on change.
	run(ctx context.Context) error
}

func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("proxy", stderr)
	path := fs.String("config", "", "sidecar bootstrap file (YAML); reloaded on SIGHUP or when it changes")
	resources := fs.String("resources", "", "run without a control plane: serve the mesh resources (Service, HTTPRoute, TrafficPolicy) of this directory, re-read on SIGHUP or when a file changes (not in the -tags proxyonly build)")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	check := fs.Bool("check", false, "validate the config (and --resources) and exit")
	listen := fs.String("listen", "", "quick mode, no config file: listen here and forward everything to --upstream")
	upstream := fs.String("upstream", "", "quick mode: the one upstream address (host:port)")
	upProto := fs.String("upstream-protocol", "http", "quick mode: http (pooled HTTP/1.1), http2 (multiplexed) or tcp")
	admin := fs.String("admin", "off", "quick mode: admin listener address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quick := *listen != "" || *upstream != ""
	if (*path == "") == !quick || fs.NArg() > 0 || (quick && (*listen == "" || *upstream == "")) || (quick && *resources != "") {
		fmt.Fprintln(stderr, "usage: weft proxy --config sidecar.yaml [--resources DIR]\n       weft proxy --listen ADDR --upstream ADDR [--upstream-protocol P]")
		fs.PrintDefaults()
		return errUsage
	}
	log, err := newLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	var cfg *sidecar.Config
	if quick {
		cfg, err = quickConfig(*listen, *upstream, *upProto, *admin)
	} else {
		cfg, err = sidecar.Load(*path)
	}
	if err != nil {
		return err
	}
	if *resources != "" {
		if err := standalone(cfg); err != nil {
			return err
		}
	}
	if *check {
		if *resources != "" {
			if err := checkResources(*resources); err != nil {
				return err
			}
		}
		fmt.Fprintln(stdout, "config ok")
		return nil
	}
	opts := sidecar.Options{Logger: log, ConfigPath: *path}
	var feed resourceFeed
	if *resources != "" {
		if feed, err = newResourceFeed(*resources, log); err != nil {
			return err
		}
		opts.ControlPlane = &sidecar.ControlPlane{XDS: []string{feed.addr()}}
	}
	sc, err := sidecar.New(cfg, opts)
	if err != nil {
		if feed != nil {
			stopped, cancel := context.WithCancel(context.Background())
			cancel()
			feed.run(stopped) // closes its listener
		}
		return err
	}
	if quick {
		signal.Ignore(syscall.SIGHUP) // no file to reload
		return sc.Run(ctx)
	}
	// The feed outlives the sidecar's drain: it stops only once the
	// sidecar is done with it.
	feedCtx, stopFeed := context.WithCancel(context.Background())
	feedDone := make(chan error, 1)
	if feed != nil {
		go func() { feedDone <- feed.run(feedCtx) }()
	} else {
		feedDone <- nil
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := sc.ReloadFile(); err != nil {
					log.Error("SIGHUP reload rejected; the running config stays", "err", err)
				}
				if feed != nil {
					if err := feed.reload(ctx); err != nil {
						log.Error("SIGHUP reload rejected", "err", err)
					}
				}
			}
		}
	}()
	runErr := sc.Run(ctx)
	stopFeed()
	if err := <-feedDone; err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// standalone checks that a config run with --resources leaves the
// control plane to it.
func standalone(cfg *sidecar.Config) error {
	var errs []error
	if cfg.ControlPlane != nil {
		errs = append(errs, errors.New("controlPlane: --resources serves the services and routes itself; remove controlPlane, or drop --resources to use weft control"))
	}
	if cfg.Register != nil {
		errs = append(errs, errors.New("register: registration needs weft control; with --resources, list the endpoints in each Service's spec.endpoints"))
	}
	if cfg.Upstream != nil {
		errs = append(errs, errors.New("upstream: quick mode excludes --resources"))
	}
	return errors.Join(errs...)
}

// quickConfig is a one-listener, one-upstream sidecar: the shape of a
// benchmark hop, and the quickest way to put Weft in front of something.
func quickConfig(listen, upstream, proto, admin string) (*sidecar.Config, error) {
	cfg := &sidecar.Config{
		Service:  "quick",
		Admin:    admin,
		Outbound: sidecar.Outbound{Ports: []sidecar.OutboundPort{{Listen: listen, Service: "upstream"}}},
		Upstream: &sidecar.Upstream{Address: upstream, Protocol: proto},
	}
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

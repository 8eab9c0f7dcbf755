package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-mesh/weft/internal/sidecar"
)

func runProxy(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("proxy", stderr)
	path := fs.String("config", "", "sidecar config file (YAML); reloaded on SIGHUP or when it changes")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	check := fs.Bool("check", false, "validate the config and exit")
	listen := fs.String("listen", "", "quick mode, no config file: listen here and forward everything to --upstream")
	upstream := fs.String("upstream", "", "quick mode: the one upstream address (host:port)")
	upProto := fs.String("upstream-protocol", "http", "quick mode: http (pooled HTTP/1.1), http2 (multiplexed) or tcp")
	admin := fs.String("admin", "off", "quick mode: admin listener address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quick := *listen != "" || *upstream != ""
	if (*path == "") == !quick || fs.NArg() > 0 || (quick && (*listen == "" || *upstream == "")) {
		fmt.Fprintln(stderr, "usage: weft proxy --config sidecar.yaml\n       weft proxy --listen ADDR --upstream ADDR [--upstream-protocol P]")
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
	if *check {
		fmt.Fprintln(stdout, "config ok")
		return nil
	}
	sc, err := sidecar.New(cfg, sidecar.Options{Logger: log, ConfigPath: *path})
	if err != nil {
		return err
	}
	if quick {
		signal.Ignore(syscall.SIGHUP) // no file to reload
		return sc.Run(ctx)
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
			}
		}
	}()
	return sc.Run(ctx)
}

// quickConfig is a one-listener, one-upstream sidecar: the shape of a
// benchmark hop, and the quickest way to put Weft in front of something.
func quickConfig(listen, upstream, proto, admin string) (*sidecar.Config, error) {
	cfg := &sidecar.Config{
		Service:  "quick",
		Admin:    admin,
		Outbound: sidecar.Outbound{Ports: []sidecar.OutboundPort{{Listen: listen, Service: "upstream"}}},
		Services: []sidecar.Service{{Name: "upstream", Protocol: proto, Endpoints: []sidecar.Endpoint{{Address: upstream}}}},
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

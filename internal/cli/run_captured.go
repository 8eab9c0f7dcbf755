package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strconv"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// defaultCapturePort is the app's port under --capture: the namespace is
// its own, so any port is free there.
const defaultCapturePort = 8080

// runCaptured is `weft run --capture`: the app runs in a network
// namespace of its own whose outbound TCP all reaches the sidecar, and
// whose service names resolve to the sidecar's virtual IPs. Whatever it
// sets up is removed when it returns, also after the app failed.
func runCaptured(ctx context.Context, o *runOpts, log *slog.Logger, stdout, stderr io.Writer) (err error) {
	if err := capturePrereqs(); err != nil {
		return err
	}
	appPort := o.port
	if appPort == 0 {
		appPort = defaultCapturePort
	}
	creds, err := prepareCreds(ctx, o)
	if err != nil {
		return fmt.Errorf("%w; %s was not started", err, o.argv[0])
	}
	defer creds.cleanup()
	sweepStale(stderr)
	cn, err := setupCapture(appPort)
	if err != nil {
		return fmt.Errorf("%w; %s was not started", err, o.argv[0])
	}
	defer func() {
		if cerr := cn.cleanup(); cerr != nil {
			fmt.Fprintf(stderr, "weft run: cleaning up the capture namespace %s: %v\n", cn.ns, cerr)
		}
	}()
	sc, err := startRunSidecar(o.captureSidecarConfig(appPort, cn, creds), log)
	if err != nil {
		return fmt.Errorf("sidecar: %w; %s was not started", err, o.argv[0])
	}
	defer sc.stopAndWait()
	addrs, err := sc.waitReady(ctx, o, creds.api, stderr)
	if err != nil {
		return fmt.Errorf("%w; %s was not started", err, o.argv[0])
	}
	ap, err := netip.ParseAddrPort(addrs.Capture)
	if err != nil {
		return fmt.Errorf("capture listener address %q: %w; %s was not started", addrs.Capture, err, o.argv[0])
	}
	if err := cn.redirect(int(ap.Port())); err != nil {
		return fmt.Errorf("%w; %s was not started", err, o.argv[0])
	}
	fmt.Fprintf(stderr, "weft run: %s (id %s) meshed by capture: app PORT=%d in network namespace %s (%s) <- inbound %s; its outbound TCP -> %s",
		o.service, o.id, appPort, cn.ns, cn.appIP, addrs.Inbound["app"], addrs.Capture)
	if addrs.Admin != "" {
		fmt.Fprintf(stderr, "; admin http://%s", addrs.Admin)
	}
	fmt.Fprintln(stderr)
	app := *o
	app.argv = cn.command(o.argv)
	code, appErr := superviseApp(ctx, &app, captureEnv(os.Environ(), appPort), stdout, stderr, sc)
	return finishRun(code, appErr, sc, stderr)
}

// captureSidecarConfig is sidecarConfig for a captured app: its inbound
// forwards to the app's address in the namespace, and the capture
// listener, on the host end of the veth, replaces the explicit proxy.
func (o *runOpts) captureSidecarConfig(appPort int, cn *captureNet, creds *runCreds) *sidecar.Config {
	cfg := o.sidecarConfig(appPort, creds)
	cfg.Inbound[0].App = net.JoinHostPort(cn.appIP.String(), strconv.Itoa(appPort))
	cfg.Outbound.Proxy = ""
	cfg.Outbound.Capture = &sidecar.Capture{
		Listen:    net.JoinHostPort(cn.hostIP.String(), "0"),
		HostsFile: cn.hostsFile,
	}
	return cfg
}

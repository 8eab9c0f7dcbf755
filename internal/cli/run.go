package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// runOpts are `weft run`'s flags.
type runOpts struct {
	service, id, host, admin, proxy string
	region, zone                    string
	port, inboundPort               int
	api, xds                        []string
	upstreams                       []string
	labels                          map[string]string
	probePath                       string
	probeInterval                   time.Duration
	wait, drain, grace              time.Duration
	logLevel                        string
	argv                            []string
	// capture runs the app in its own network namespace with all of its
	// outbound TCP redirected to the sidecar.
	capture bool
	// joinTokenFile, tokenFile and caFile are the credentials: the
	// sidecar's join token (default: one made with the operator token),
	// the operator token and the control plane's CA bundle.
	joinTokenFile, tokenFile, caFile string
}

const runUsage = "usage: weft run --service NAME [--version V] [--port P] [--upstream SVC]... [--capture] [--control API] [--xds ADDR] -- CMD [ARGS...]"

// parseRun turns `weft run`'s command line into runOpts.
func parseRun(args []string, stderr io.Writer) (*runOpts, error) {
	fs := newFlags("run", stderr)
	o := &runOpts{labels: map[string]string{}}
	fs.StringVar(&o.service, "service", "", "the mesh service this process is an instance of (required)")
	version := fs.String("version", "", "label the instance version=V (route subsets select on it)")
	fs.Var((*labelFlag)(&o.labels), "label", "label the instance k=v (repeatable)")
	fs.StringVar(&o.zone, "zone", "", "the zone this instance runs in: callers prefer instances in their own zone (default: the topology.kubernetes.io/zone label)")
	fs.StringVar(&o.region, "region", "", "the region this instance runs in: callers prefer their own region next (default: the topology.kubernetes.io/region label)")
	fs.IntVar(&o.port, "port", 0, "the port the app listens on, given to it as $PORT (default: a free port; 8080 with --capture)")
	fs.IntVar(&o.inboundPort, "inbound-port", 0, "the sidecar's inbound port, where other sidecars call this instance (default: a free port)")
	fs.StringVar(&o.host, "host", "127.0.0.1", "the IP the inbound port binds and registers: 127.0.0.1 serves callers on this machine only")
	fs.Var((*listFlag)(&o.upstreams), "upstream", "a service the app calls, given a local port ($WEFT_UPSTREAM_NAME); repeatable. Others are learned through the proxy on first use")
	control := fs.String("control", defaultServer(), "the control plane's API address(es), comma-separated replicas (env WEFT_SERVER)")
	xds := fs.String("xds", "", "the control plane's xDS address(es), comma-separated (default: each --control host on port 15010)")
	fs.StringVar(&o.admin, "admin", "127.0.0.1:0", "the sidecar's admin listener (/metrics, /ready, /config); off disables it")
	fs.StringVar(&o.proxy, "proxy", "127.0.0.1:0", "the sidecar's explicit proxy listener, given to the app as HTTP_PROXY")
	fs.StringVar(&o.id, "id", "", "the instance ID (default: SERVICE-HOSTNAME-PID)")
	fs.StringVar(&o.probePath, "probe-path", "", "probe the app with GET on this path (default: a TCP connect to $PORT)")
	fs.DurationVar(&o.probeInterval, "probe-interval", time.Second, "how often the app is probed")
	fs.DurationVar(&o.wait, "wait", 30*time.Second, "how long to wait for the sidecar and the control plane before giving up (the app is not started)")
	fs.DurationVar(&o.drain, "drain", 2*time.Second, "after the app exits, how long requests in flight through the sidecar may take to finish")
	fs.DurationVar(&o.grace, "grace", 10*time.Second, "after forwarding SIGINT or SIGTERM, how long the app may take to exit before it is killed")
	fs.StringVar(&o.logLevel, "log-level", "warn", "sidecar log level: debug, info, warn or error")
	fs.BoolVar(&o.capture, "capture", false, "run the app in its own network namespace with all of its outbound TCP captured by the sidecar, so apps that ignore proxy variables are meshed too (needs root, ip and iptables)")
	fs.StringVar(&o.joinTokenFile, "join-token-file", "", "the sidecar's join token (weft token create --service NAME); default: one made with the operator token")
	fs.StringVar(&o.tokenFile, "token-file", "", "the operator token file (env WEFT_TOKEN_FILE or WEFT_TOKEN; default DATA_DIR/operator.token)")
	fs.StringVar(&o.caFile, "ca-file", "", "the control plane's CA bundle (env WEFT_CA_FILE; default DATA_DIR/ca.pem; else the join token's CA pin)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.service == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, runUsage)
		fs.PrintDefaults()
		return nil, errUsage
	}
	o.argv = fs.Args()
	if *version != "" {
		if v, ok := o.labels["version"]; ok && v != *version {
			return nil, fmt.Errorf("--version %q and --label version=%s disagree", *version, v)
		}
		o.labels["version"] = *version
	}
	var errs []error
	if o.capture && len(o.upstreams) > 0 {
		errs = append(errs, errors.New("--upstream: not used with --capture: every connection the app makes goes through the sidecar, and service names resolve to it (drop --upstream)"))
	}
	for _, l := range []struct {
		flag  *string
		name  string
		label string
	}{{&o.zone, "--zone", sidecar.LabelZone}, {&o.region, "--region", sidecar.LabelRegion}} {
		if v, ok := o.labels[l.label]; ok && *l.flag != "" && v != *l.flag {
			errs = append(errs, fmt.Errorf("%s %q and --label %s=%s disagree", l.name, *l.flag, l.label, v))
		} else if *l.flag == "" {
			*l.flag = v
		}
	}
	for _, p := range []struct {
		name string
		v    int
	}{{"--port", o.port}, {"--inbound-port", o.inboundPort}} {
		if p.v < 0 || p.v > 65535 {
			errs = append(errs, fmt.Errorf("%s: must be 0..65535; got %d", p.name, p.v))
		}
	}
	if ip := net.ParseIP(o.host); ip == nil || ip.IsUnspecified() {
		errs = append(errs, fmt.Errorf("--host: must be the IP other sidecars call this instance at; got %q", o.host))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--wait", o.wait}, {"--drain", o.drain}, {"--grace", o.grace}, {"--probe-interval", o.probeInterval}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive; got %v", d.name, d.v))
		}
	}
	o.api = splitList(*control)
	if len(o.api) == 0 {
		errs = append(errs, errors.New("--control: must name the control plane's API address"))
	}
	if *xds != "" {
		o.xds = splitList(*xds)
	} else {
		for _, a := range o.api {
			host, _, err := net.SplitHostPort(a)
			if err != nil {
				errs = append(errs, fmt.Errorf("--control: %q: %w", a, err))
				continue
			}
			o.xds = append(o.xds, net.JoinHostPort(host, "15010"))
		}
	}
	if o.id == "" {
		h, _ := os.Hostname()
		o.id = fmt.Sprintf("%s-%s-%d", o.service, strings.ToLower(h), os.Getpid())
	}
	return o, errors.Join(errs...)
}

// sidecarConfig is the in-process sidecar of the app that listens on
// appPort. Its config is validated by sidecar.New, which names any bad
// field (a bad --upstream name shows as outbound.ports[i].service).
func (o *runOpts) sidecarConfig(appPort int, creds *runCreds) *sidecar.Config {
	ports := make([]sidecar.OutboundPort, len(o.upstreams))
	for i, u := range o.upstreams {
		ports[i] = sidecar.OutboundPort{Listen: "127.0.0.1:0", Service: u}
	}
	return &sidecar.Config{
		Node:    o.id,
		Service: o.service,
		Admin:   o.admin,
		Inbound: []sidecar.Inbound{{
			Name:   "app",
			Listen: net.JoinHostPort(o.host, strconv.Itoa(o.inboundPort)),
			App:    net.JoinHostPort("127.0.0.1", strconv.Itoa(appPort)),
		}},
		Outbound: sidecar.Outbound{Proxy: o.proxy, Ports: ports},
		Locality: sidecar.Locality{Region: o.region, Zone: o.zone},
		// Services scopes the sidecar to the declared upstreams and makes
		// it learn the others from traffic; nil (no --upstream) asks for all.
		ControlPlane: &sidecar.ControlPlane{XDS: o.xds, API: o.api, Services: o.upstreams, CAFile: creds.caFile},
		Identity:     &sidecar.Identity{TokenFile: creds.tokenFile},
		Register: &sidecar.Registration{
			Labels: o.labels,
			Probe:  sidecar.Probe{HTTPPath: o.probePath, Interval: o.probeInterval},
		},
		Limits: sidecar.Limits{
			// The app has exited when the sidecar stops: holding the
			// listeners open after deregistering would serve nothing.
			DrainDelay:   time.Millisecond,
			DrainTimeout: o.drain,
		},
	}
}

// listFlag is a repeatable flag whose values may also be comma-separated.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range splitList(v) {
		*l = append(*l, s)
	}
	return nil
}

// labelFlag is a repeatable k=v flag.
type labelFlag map[string]string

func (l *labelFlag) String() string {
	if l == nil || *l == nil {
		return ""
	}
	parts := make([]string, 0, len(*l))
	for k, v := range *l {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func (l *labelFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE; got %q", v)
	}
	if _, dup := (*l)[k]; dup {
		return fmt.Errorf("label %q given twice", k)
	}
	(*l)[k] = val
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// freeLoopbackPort picks a port that is free now, from below Linux's
// ephemeral range (32768-60999): a port the kernel hands out itself is
// also what it gives the next outgoing connection, on this machine busy
// with the mesh's own connections, and the app's bind then fails (seen in
// the demo). Another process could still take it before the app binds
// it; the app then fails to start with its own bind error, which weft run
// passes on.
func freeLoopbackPort() (int, error) {
	for range 64 {
		port := 20000 + rand.IntN(12000)
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err == nil {
			ln.Close()
			return port, nil
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pick a port for the app: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

var _ flag.Value = (*listFlag)(nil)
var _ flag.Value = (*labelFlag)(nil)

// runRun is `weft run`: it starts the sidecar of one instance of
// --service in this process, waits until it is serving with the control
// plane's config, then runs the app with the environment that meshes it,
// forwards signals to it, and exits with its status once the sidecar has
// deregistered and drained.
func runRun(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseRun(args, stderr)
	if err != nil {
		return err
	}
	log, err := newLogger(stderr, o.logLevel)
	if err != nil {
		return err
	}
	if o.capture {
		return runCaptured(ctx, o, log, stdout, stderr)
	}
	appPort := o.port
	if appPort == 0 {
		if appPort, err = freeLoopbackPort(); err != nil {
			return err
		}
	}
	creds, err := prepareCreds(ctx, o)
	if err != nil {
		return fmt.Errorf("%w; %s was not started", err, o.argv[0])
	}
	defer creds.cleanup()
	sc, err := startRunSidecar(o.sidecarConfig(appPort, creds), log)
	if err != nil {
		return fmt.Errorf("sidecar: %w; %s was not started", err, o.argv[0])
	}
	defer sc.stopAndWait()
	addrs, err := sc.waitReady(ctx, o, creds.api, stderr)
	if err != nil {
		return fmt.Errorf("%w; %s was not started", err, o.argv[0])
	}
	env := appEnv(os.Environ(), appPort, addrs, o.upstreams)
	fmt.Fprintln(stderr, runBanner(o, appPort, addrs))
	code, appErr := superviseApp(ctx, o, env, stdout, stderr, sc)
	return finishRun(code, appErr, sc, stderr)
}

// finishRun stops the sidecar after the app exited and returns weft
// run's outcome: the app's status.
func finishRun(code int, appErr error, sc *runSidecar, stderr io.Writer) error {
	// The sidecar deregisters first, so callers stop picking this
	// instance, then drains what is in flight.
	scErr := sc.stopAndWait()
	switch {
	case appErr != nil:
		return appErr
	case scErr != nil && !errors.Is(scErr, context.Canceled):
		fmt.Fprintf(stderr, "weft run: sidecar: %v\n", scErr)
	}
	if code == 0 {
		return nil
	}
	return exitCode(code)
}

// runBanner says, on stderr, what the app was given.
func runBanner(o *runOpts, appPort int, a sidecar.Addrs) string {
	var b strings.Builder
	fmt.Fprintf(&b, "weft run: %s (id %s) meshed: app PORT=%d <- inbound %s; HTTP_PROXY=http://%s", o.service, o.id, appPort, a.Inbound["app"], a.Proxy)
	for _, u := range o.upstreams {
		fmt.Fprintf(&b, "; %s=%s", upstreamEnvName(u), a.Outbound[u])
	}
	if a.Admin != "" {
		fmt.Fprintf(&b, "; admin http://%s", a.Admin)
	}
	return b.String()
}

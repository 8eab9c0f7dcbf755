//go:build !proxyonly

package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/controlplane"
	"github.com/weft-mesh/weft/internal/sidecar"
)

// demoOpts are `weft demo`'s flags.
type demoOpts struct {
	auto, serve, verbose bool
	duration             time.Duration
	rate                 int
	dataDir              string
	dashboard            string
}

func parseDemo(args []string, stderr io.Writer) (*demoOpts, error) {
	fs := newFlags("demo", stderr)
	o := &demoOpts{}
	fs.BoolVar(&o.auto, "auto", false, "run the scenario unattended (the default when stdin is not a terminal)")
	fs.DurationVar(&o.duration, "duration", 30*time.Second, "how long the scenario's traffic runs, shared among its steps")
	fs.IntVar(&o.rate, "rate", 50, "pages a second the load generator asks the frontend for")
	fs.BoolVar(&o.serve, "serve", false, "keep the mesh up after the scenario, and say how to explore it (Ctrl-C stops it)")
	fs.StringVar(&o.dataDir, "data-dir", "", "keep the control plane's etcd data here (default: a temporary directory, removed at exit)")
	fs.StringVar(&o.dashboard, "dashboard", controlplane.DefaultDashboard, "the web dashboard's address (\"off\": none); if it is taken, a free port on 127.0.0.1")
	fs.BoolVar(&o.verbose, "v", false, "show the logs of the control plane, the sidecars and the apps")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if o.duration < 5*time.Second || o.duration > time.Hour {
		errs = append(errs, fmt.Errorf("--duration: must be 5s..1h; got %v", o.duration))
	}
	if o.rate < 1 || o.rate > 1000 {
		errs = append(errs, fmt.Errorf("--rate: must be 1..1000; got %d", o.rate))
	}
	return o, errors.Join(errs...)
}

// runDemo is `weft demo`: an embedded control plane, a shop of
// mesh-unaware apps in three languages, each instance under `weft run` as
// a child process, and a load generator in this process calling the
// shop's frontend through its own sidecar. A narrated scenario changes
// the mesh step by step and says what the mesh did at each; a summary
// table closes it.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseDemo(args, stderr)
	if err != nil {
		return err
	}
	err = runDemoShop(ctx, o, stdout, stderr)
	if err != nil && ctx.Err() != nil {
		// Ctrl-C is how a demo ends: everything it started has stopped.
		fmt.Fprintln(stdout, "\nInterrupted: the demo mesh has stopped.")
		return nil
	}
	return err
}

func runDemoShop(ctx context.Context, o *demoOpts, stdout, stderr io.Writer) error {
	logw := io.Discard
	if o.verbose {
		logw = stderr
	}
	interactive := !o.auto && isTerminal(os.Stdin)
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find the weft binary to run the shop's instances: %w", err)
	}
	dir, err := os.MkdirTemp("", "weft-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dataDir := o.dataDir
	if dataDir == "" {
		dataDir = filepath.Join(dir, "etcd")
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := &demoMesh{log: slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))}
	defer m.stop()

	fmt.Fprintln(stdout, "Weft demo: a small shop on a service mesh, all on 127.0.0.1.")
	cp, err := m.control(ctx, dataDir, o.dashboard)
	if err != nil {
		return err
	}
	// Security is on in the demo as everywhere: the CLI's client uses the
	// operator token and CA the control plane wrote, and each sidecar
	// starts from a join token of its own.
	apic, err := (&cpTarget{server: &cp.API, tokenFile: &cp.OperatorTokenFile, caFile: &cp.CAFile}).client()
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n  control plane   xDS %s, API https://%s, embedded etcd in %s\n", cp.XDS, cp.API, dataDir)
	fmt.Fprintf(stdout, "  credentials     CA %s, operator token %s; each sidecar starts from a join token\n", cp.CAFile, cp.OperatorTokenFile)
	dashLink := dashboardLink(cp)
	if dashLink != "" {
		fmt.Fprintf(stdout, "  dashboard       %s\n", dashLink)
		fmt.Fprintln(stdout, "                  (open it in a browser: the live topology, the split per version, weights, history)")
	}
	d := &demoRun{out: stdout, api: apic, dir: dir, stats: &loadStats{}, dashboard: dashLink}
	if err := d.apply(ctx, "shop.yaml", shopYAML()); err != nil {
		return err
	}

	insts, err := shopInstances(exe, dir, exec.LookPath)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n  The shop: frontend (%s) calls catalog (Go, v1 and v2) and ratings (%s). None of them\n", insts[0].lang, insts[len(insts)-1].lang)
	fmt.Fprintln(stdout, "  knows about the mesh; each instance runs under `weft run`, which gives it a sidecar:")
	for _, in := range insts {
		p, err := startDemoProc(in, in.runArgs(exe, cp.API, cp.XDS, cp.OperatorTokenFile, cp.CAFile, o.verbose), verboseWriter(o.verbose, stderr))
		if err != nil {
			return err
		}
		d.procs = append(d.procs, p)
	}
	defer func() { stopAll(d.procs, 5*time.Second) }()
	ins, err := waitShop(ctx, apic, d.procs)
	if err != nil {
		return err
	}
	for _, in := range insts {
		fmt.Fprintf(stdout, "    %-13s %-11s %-7s %-36s sidecar admin http://%s\n", in.id, strings.TrimSpace(in.service+" "+in.version), in.lang, appCommand(in.argv), ins[in.id].Admin)
		if in.note != "" {
			fmt.Fprintf(stdout, "      note: %s\n", in.note)
		}
	}
	d.frontendAdmin = ins["frontend-1"].Admin
	if ok, why := demoCaptureAvailable(); !ok {
		fmt.Fprintf(stdout, "    note: %s\n", why)
	}

	// The load generator's sidecar gets its identity from a join token,
	// as a `weft run` child's does.
	tok, err := apic.CreateToken(ctx, api.TokenRequest{Service: "loadgen", TTLSeconds: 600})
	if err != nil {
		return fmt.Errorf("join token for the load generator: %w", err)
	}
	loadTok := filepath.Join(dir, "loadgen.token")
	if err := os.WriteFile(loadTok, []byte(tok.Token+"\n"), 0o600); err != nil {
		return err
	}
	loadID := &sidecar.Identity{TokenFile: loadTok}
	load, err := m.sidecar(ctx, &sidecar.Config{
		Node: "loadgen", Service: "loadgen", Admin: "127.0.0.1:0",
		Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0"},
		// Not scoped to frontend: a scoped sidecar is not pushed (and so
		// cannot ACK) a revision that changes nothing it asked for.
		ControlPlane: &sidecar.ControlPlane{XDS: []string{cp.XDS}, API: []string{cp.API}, CAFile: cp.CAFile},
		Identity:     loadID,
	})
	if err != nil {
		return err
	}
	d.sidecars = len(d.procs) + 1
	fmt.Fprintf(stdout, "\n  Load: %d pages/s from this process, through its own sidecar (HTTP_PROXY=http://%s),\n", o.rate, load.Proxy)
	fmt.Fprintf(stdout, "  to http://frontend/products/N; 1 page in %d comes from a beta tester (%s: %s).\n", betaEvery, betaHeader, betaUser)
	if err := waitSynced(ctx, apic, d.rev, d.sidecars); err != nil {
		return err
	}
	if err := waitEndpoints(ctx, load.Admin, map[string]int{"frontend.default": 1}); err != nil {
		return err
	}
	if err := waitEndpoints(ctx, d.frontendAdmin, map[string]int{"catalog.default/v1": 1, "catalog.default/v2": 2, "ratings.default": 1}); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  All %d sidecars (5 under weft run, 1 here) have config revision %d.\n", d.sidecars, d.rev)
	d.loadProxy = load.Proxy
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		newLoadGen(load.Proxy, o.rate, d.stats).run(lctx)
	}()
	defer func() { stopLoad(); <-loadDone }()

	if !interactive && !o.auto {
		fmt.Fprintln(stdout, "\n  stdin is not a terminal: running the scenario unattended (--auto).")
	}
	if err := runScenario(ctx, d, demoScenarioAll(), o.duration, interactive); err != nil {
		return err
	}
	rows, total := summarize(d.stats.all())
	fmt.Fprintf(stdout, "\nSummary: %d pages in %.1fs, each through the mesh three times. Ordinary users' split by catalog\n", total.requests, total.elapsed.Seconds())
	fmt.Fprintln(stdout, "version, beta testers' share on v2, latency as the load generator saw it:")
	fmt.Fprintln(stdout)
	renderSummary(indent(stdout), rows, total, "v2")
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "catalog versions seen: %s\n", strings.Join(versionsSeen(total), ", "))

	if !o.serve {
		fmt.Fprint(stdout, closingLines(false, demoHints{}))
		return nil
	}
	d.stats.begin("serve") // keep counting, so the mesh keeps serving a real load
	fmt.Fprint(stdout, closingLines(true, demoHints{api: cp.API, loadProxy: load.Proxy, frontendAdmin: d.frontendAdmin, dir: dir,
		tokenFile: cp.OperatorTokenFile, caFile: cp.CAFile, dashboard: dashLink}))
	for {
		if err := d.measure(ctx, time.Hour); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}

// runScenario runs the steps in order, each for its share of dur, and
// with interactive waits for Enter after each one's report.
func runScenario(ctx context.Context, d *demoRun, steps []demoStep, dur time.Duration, interactive bool) error {
	var total float64
	for _, s := range steps {
		total += s.weight
	}
	in := bufio.NewReader(os.Stdin)
	for i, s := range steps {
		fmt.Fprintf(d.out, "\n%d/%d %s\n", i+1, len(steps), s.title)
		// The step counts from when its change is in place (every
		// sidecar ACKed it); requests that overlap the change count in
		// the total only, so each row shows one config and none is
		// lost.
		d.stats.changing()
		if s.act != nil {
			if err := s.act(ctx, d); err != nil {
				return fmt.Errorf("step %s: %w", s.name, err)
			}
		}
		d.stats.begin(s.name)
		if err := d.measure(ctx, time.Duration(float64(dur)*s.weight/total)); err != nil {
			return err
		}
		st := d.stats.current()
		for _, l := range stepLine(st) {
			d.say("%s", l)
		}
		if s.report != nil {
			s.report(ctx, d, st)
		}
		if interactive && i < len(steps)-1 {
			if err := waitEnter(ctx, d.out, in); err != nil {
				return err
			}
		}
	}
	d.stats.end()
	return nil
}

// waitShop waits until every instance is registered and ready, and
// returns them by ID.
func waitShop(ctx context.Context, c *apiclient.Client, procs []*demoProc) (map[string]api.Instance, error) {
	byID := map[string]api.Instance{}
	err := waitFor(ctx, 60*time.Second, "the shop's instances to be ready", func() bool {
		if anyExited(procs) != nil {
			return true
		}
		clear(byID)
		for _, svc := range []string{"frontend", "catalog", "ratings"} {
			ins, err := c.Instances(ctx, svc)
			if err != nil {
				return false
			}
			for _, in := range ins {
				if in.Ready {
					byID[in.ID] = in
				}
			}
		}
		return len(byID) == len(procs)
	})
	if err == nil {
		err = anyExited(procs)
	}
	return byID, err
}

func appCommand(argv []string) string {
	parts := make([]string, len(argv))
	for i, a := range argv {
		parts[i] = filepath.Base(a)
		if i > 4 {
			return strings.Join(parts[:i], " ") + " ..."
		}
	}
	return strings.Join(parts, " ")
}

func verboseWriter(verbose bool, w io.Writer) io.Writer {
	if verbose {
		return w
	}
	return nil
}

// demoHints are the addresses the closing commands name.
type demoHints struct{ api, loadProxy, frontendAdmin, dir, tokenFile, caFile, dashboard string }

// closingLines ends the tour. Commands that talk to the mesh are offered
// only when it keeps running (--serve): otherwise it stops as the demo
// returns, and they would fail.
func closingLines(serve bool, h demoHints) string {
	if !serve {
		return "\nThe demo mesh stops now. Run 'weft demo --serve' to keep it running and try the CLI against it.\n"
	}
	return fmt.Sprintf(`
The mesh keeps running, with the load, until Ctrl-C. Try (from this checkout, 'go run ./cmd/weft' for weft),
after giving the CLI the demo's operator token and CA:
  export WEFT_TOKEN_FILE=%[7]s WEFT_CA_FILE=%[8]s
  weft stat --server %[1]s
  weft edges --server %[1]s
  weft tap catalog --server %[1]s --max 20
  weft get instances --server %[1]s
  weft get routes --server %[1]s
  weft describe svc catalog --server %[1]s
  weft explain --server %[1]s --from frontend GET http://catalog/items/1 -H '%[5]s: %[6]s'
  weft apply --server %[1]s -f %[4]s/catalog-route.yaml     (edit the weights first)
  curl -x http://%[2]s http://frontend/products/1
  curl http://%[3]s/metrics     (the frontend's sidecar)
`, h.api, h.loadProxy, h.frontendAdmin, h.dir, betaHeader, betaUser, h.tokenFile, h.caFile) + dashboardHint(h.dashboard)
}

func dashboardHint(link string) string {
	if link == "" {
		return ""
	}
	return "and in a browser, the dashboard (the link carries the operator token, so it can change weights):\n  " + link + "\n"
}

//go:build !proxyonly

package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weft-mesh/weft/demo/echo"
	apitypes "github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/controlplane"
	"github.com/weft-mesh/weft/internal/sidecar"
)

// runDemo starts a small mesh in this process: the control plane with its
// embedded etcd, two versions of a catalog service, each behind its own
// sidecar that registers it, and a frontend sidecar that the demo client
// calls through. It applies an HTTPRoute, changes it live, shows a refused
// resource, the sync status of every sidecar and the history, then exits
// (or keeps serving with --serve).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	n := fs.Int("requests", 200, "requests per traffic phase")
	serve := fs.Bool("serve", false, "keep the mesh running after the tour (Ctrl-C stops it)")
	verbose := fs.Bool("v", false, "show control-plane and sidecar logs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logw := io.Discard
	if *verbose {
		logw = stderr
	}
	log := slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	m := &demoMesh{log: log}
	defer m.stop()

	fmt.Fprintln(stdout, "Weft demo: a mesh on this machine, all on 127.0.0.1.")
	dataDir, err := os.MkdirTemp("", "weft-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dataDir)
	cp, err := m.control(ctx, dataDir)
	if err != nil {
		return err
	}
	// Security is on in the demo as everywhere: the CLI's client uses the
	// operator token and CA the control plane wrote, and each sidecar
	// starts from a join token of its own.
	api, err := (&cpTarget{server: &cp.API, tokenFile: &cp.OperatorTokenFile, caFile: &cp.CAFile}).client()
	if err != nil {
		return err
	}
	cpCfg := &sidecar.ControlPlane{XDS: []string{cp.XDS}, API: []string{cp.API}, CAFile: cp.CAFile}
	fmt.Fprintf(stdout, "\n  control plane: xDS %s, API https://%s (embedded etcd in %s)\n", cp.XDS, cp.API, dataDir)
	fmt.Fprintf(stdout, "  credentials: CA %s, operator token %s; each sidecar below starts from a join token\n", cp.CAFile, cp.OperatorTokenFile)
	joinToken := func(service string) (*sidecar.Identity, error) {
		tok, err := api.CreateToken(ctx, apitypes.TokenRequest{Service: service, TTLSeconds: 600})
		if err != nil {
			return nil, fmt.Errorf("join token for %s: %w", service, err)
		}
		path := filepath.Join(dataDir, service+"-"+strconv.Itoa(int(time.Now().UnixNano()%1e9))+".token")
		if err := os.WriteFile(path, []byte(tok.Token+"\n"), 0o600); err != nil {
			return nil, err
		}
		return &sidecar.Identity{TokenFile: path}, nil
	}

	for _, v := range []string{"v1", "v2"} {
		app, err := m.app(echo.Handler("catalog", v))
		if err != nil {
			return err
		}
		id, err := joinToken("catalog")
		if err != nil {
			return err
		}
		cfg := &sidecar.Config{
			Node: "catalog-" + v, Service: "catalog", Admin: "off", Identity: id,
			Inbound:      []sidecar.Inbound{{Name: "http", Listen: "127.0.0.1:0", App: app}},
			ControlPlane: cpCfg,
			Register:     &sidecar.Registration{Labels: map[string]string{"version": v}, Probe: sidecar.Probe{HTTPPath: "/", Interval: 500 * time.Millisecond}},
		}
		a, _, err := m.sidecar(ctx, cfg)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "  catalog %s: app %s <- sidecar %s, registers itself with version=%s\n", v, app, a.Inbound["http"], v)
	}
	frontID, err := joinToken("frontend")
	if err != nil {
		return err
	}
	fa, _, err := m.sidecar(ctx, &sidecar.Config{
		Node: "frontend-1", Service: "frontend", Admin: "127.0.0.1:0", Identity: frontID,
		Outbound:     sidecar.Outbound{Proxy: "127.0.0.1:0"},
		ControlPlane: cpCfg,
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "  frontend sidecar: HTTP_PROXY=http://%s, admin http://%s\n", fa.Proxy, fa.Admin)
	if err := waitFor(ctx, 15*time.Second, "both catalog instances registered", func() bool {
		ins, err := api.Instances(ctx, "catalog")
		return err == nil && len(ins) == 2 && ins[0].Ready && ins[1].Ready
	}); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "\n1. weft apply: a Service with subsets by version, and an HTTPRoute sending 90:10 (x-canary: always -> v2).")
	rev, err := demoApply(ctx, stdout, api, demoResources(90, 10))
	if err != nil {
		return err
	}
	if err := waitSynced(ctx, api, rev, 3); err != nil {
		return err
	}
	proxyURL, _ := url.Parse("http://" + fa.Proxy)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	defer client.CloseIdleConnections()

	fmt.Fprintln(stdout, "\n2. One request, through HTTP_PROXY: the app sees what the mesh added.")
	rep, err := demoGet(client, "http://catalog/items/42", nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   GET http://catalog/items/42 -> served by catalog %s, path %s\n", rep.Version, rep.Path)
	for _, h := range []string{"X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto"} {
		fmt.Fprintf(stdout, "   the app saw %s: %s\n", h, rep.Headers[h])
	}
	fmt.Fprintf(stdout, "\n3. Observed split for 90:10, %d requests:\n", *n)
	if err := demoSplit(stdout, client, *n, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "   and with x-canary: always:")
	if err := demoSplit(stdout, client, 20, map[string]string{"x-canary": "always"}); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "\n4. Live change to 50:50; every sidecar ACKs it, then:")
	if rev, err = demoApply(ctx, stdout, api, demoResources(50, 50)); err != nil {
		return err
	}
	if err := waitSynced(ctx, api, rev, 3); err != nil {
		return err
	}
	if err := demoSplit(stdout, client, *n, nil); err != nil {
		return err
	}

	fmt.Fprintln(stdout, "\n5. A bad resource is refused with the field and the reason; nothing changes:")
	if _, err := demoApply(ctx, stdout, api, demoResources(50, -5)); err == nil {
		return errors.New("the bad resource was accepted")
	} else {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stdout, "   %s\n", strings.TrimSpace(line))
		}
	}
	if _, err := demoGet(client, "http://catalog/still-ok", nil); err != nil {
		return fmt.Errorf("request after the refused resource: %w", err)
	}
	fmt.Fprintln(stdout, "   GET http://catalog/still-ok -> 200")

	fmt.Fprintln(stdout, "\n6. weft get proxies:")
	ps, err := api.Proxies(ctx)
	if err != nil {
		return err
	}
	printProxies(indent(stdout), ps, "table")
	fmt.Fprintln(stdout, "\n7. weft history (weft rollback REV restores one):")
	hist, err := api.History(ctx)
	if err != nil {
		return err
	}
	for _, h := range hist {
		var chs []string
		for _, c := range h.Changes {
			chs = append(chs, c.Key+" "+c.Action)
		}
		fmt.Fprintf(stdout, "   revision %d  %s  %s\n", h.Revision, h.Op, strings.Join(chs, ", "))
	}

	fmt.Fprint(stdout, closingLines(*serve, cp.API, fa.Admin, fa.Proxy)+credLines(*serve, cp))
	if *serve {
		<-ctx.Done()
	}
	return nil
}

// credLines tell the CLI where this demo's credentials are: its data dir
// is a temporary one, not the default the CLI looks in.
func credLines(serve bool, cp controlplane.Addrs) string {
	if !serve {
		return ""
	}
	return fmt.Sprintf("The CLI needs the demo's credentials: export WEFT_TOKEN_FILE=%s WEFT_CA_FILE=%s\n", cp.OperatorTokenFile, cp.CAFile)
}

// closingLines ends the tour. Commands that talk to the mesh are offered
// only when it keeps running (-serve): otherwise it stops as the demo
// returns, and they would fail.
func closingLines(serve bool, api, admin, proxy string) string {
	if !serve {
		return "\nThe demo mesh stops now. Run 'weft demo -serve' to keep it running and try the CLI against it.\n"
	}
	return fmt.Sprintf("\nTry: WEFT_SERVER=%s weft get routes | weft describe svc catalog | weft rollback 1\n"+
		"     curl -x http://%s http://catalog/items\n"+
		"Metrics: curl http://%s/metrics   Config: curl http://%s/config\n"+
		"Serving until Ctrl-C.\n", api, proxy, admin, admin)
}

func demoResources(w1, w2 int) []byte {
	return []byte(fmt.Sprintf(`[
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"},
  "spec": {"ports": [{"port": 80}], "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "catalog"},
  "spec": {"parentRefs": [{"name": "catalog"}], "rules": [
   {"matches": [{"headers": [{"name": "x-canary", "value": "always"}]}], "backendRefs": [{"name": "catalog", "subset": "v2"}]},
   {"backendRefs": [{"name": "catalog", "subset": "v1", "weight": %d}, {"name": "catalog", "subset": "v2", "weight": %d}]}]}}
]`, w1, w2))
}

func demoApply(ctx context.Context, w io.Writer, c *apiclient.Client, body []byte) (int64, error) {
	res, err := c.Apply(ctx, body, false)
	if err != nil {
		return 0, err
	}
	for _, ch := range res.Changes {
		fmt.Fprintf(w, "   %s %s\n", ch.Key, ch.Action)
	}
	fmt.Fprintf(w, "   config revision %d\n", res.Revision)
	return res.Revision, nil
}

// waitSynced waits until n sidecars have ACKed config revision rev.
func waitSynced(ctx context.Context, c *apiclient.Client, rev int64, n int) error {
	prefix := strconv.FormatInt(rev, 10) + "."
	return waitFor(ctx, 15*time.Second, fmt.Sprintf("%d sidecars to ACK revision %d", n, rev), func() bool {
		ps, err := c.Proxies(ctx)
		if err != nil || len(ps) != n {
			return false
		}
		for _, p := range ps {
			if p.State != "SYNCED" || !strings.HasPrefix(p.Version, prefix) {
				return false
			}
		}
		return true
	})
}

// waitFor polls cond until it holds, ctx ends or d passes.
func waitFor(ctx context.Context, d time.Duration, what string, cond func() bool) error {
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s", d, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

func demoGet(c *http.Client, u string, hdr map[string]string) (*echo.Reply, error) {
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", u, resp.Status, b)
	}
	var rep echo.Reply
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rep); err != nil {
		return nil, fmt.Errorf("GET %s: decode: %w", u, err)
	}
	return &rep, nil
}

func demoSplit(w io.Writer, c *http.Client, n int, hdr map[string]string) error {
	counts := map[string]int{}
	for i := 0; i < n; i++ {
		rep, err := demoGet(c, "http://catalog/items", hdr)
		if err != nil {
			return err
		}
		counts[rep.Version]++
	}
	vs := make([]string, 0, len(counts))
	for v := range counts {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	for _, v := range vs {
		fmt.Fprintf(w, "   %s %4d  %s\n", v, counts[v], strings.Repeat("#", counts[v]*40/n))
	}
	return nil
}

// demoMesh owns everything the demo started, so stop ends it all.
type demoMesh struct {
	log   *slog.Logger
	wg    sync.WaitGroup
	stops []func()
}

func (m *demoMesh) app(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("demo app: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		srv.Serve(ln)
	}()
	m.stops = append(m.stops, func() { srv.Close() })
	return ln.Addr().String(), nil
}

func (m *demoMesh) sidecar(ctx context.Context, cfg *sidecar.Config) (sidecar.Addrs, *sidecar.Sidecar, error) {
	cfg.SetDefaults()
	cfg.Limits.DrainTimeout = time.Second
	cfg.Limits.DrainDelay = 100 * time.Millisecond // in one process, the removal reaches the frontend at once
	ready := make(chan sidecar.Addrs, 1)
	sc, err := sidecar.New(cfg, sidecar.Options{Logger: m.log, Ready: func(a sidecar.Addrs) { ready <- a }})
	if err != nil {
		return sidecar.Addrs{}, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		errc <- sc.Run(sctx)
	}()
	m.stops = append(m.stops, cancel)
	select {
	case a := <-ready:
		return a, sc, nil
	case err := <-errc:
		return sidecar.Addrs{}, nil, fmt.Errorf("sidecar %s: %w", cfg.Node, err)
	case <-time.After(10 * time.Second):
		return sidecar.Addrs{}, nil, errors.New("sidecar did not start within 10s")
	}
}

// control runs the control plane with an embedded etcd in dataDir.
func (m *demoMesh) control(ctx context.Context, dataDir string) (controlplane.Addrs, error) {
	cctx, cancel := context.WithCancel(ctx)
	ready := make(chan controlplane.Addrs, 1)
	errc := make(chan error, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		errc <- controlplane.Run(cctx, controlplane.Config{
			DataDir: dataDir, XDS: "127.0.0.1:0", API: "127.0.0.1:0", LeaseTTL: 5 * time.Second, Logger: m.log,
			Ready: func(a controlplane.Addrs) { ready <- a },
		})
	}()
	m.stops = append(m.stops, cancel)
	select {
	case a := <-ready:
		return a, nil
	case err := <-errc:
		return controlplane.Addrs{}, fmt.Errorf("control plane: %w", err)
	case <-time.After(30 * time.Second):
		return controlplane.Addrs{}, errors.New("control plane did not start within 30s")
	}
}

func (m *demoMesh) stop() {
	for i := len(m.stops) - 1; i >= 0; i-- {
		m.stops[i]()
	}
	m.wg.Wait()
}

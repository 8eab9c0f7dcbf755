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
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/weft-mesh/weft/demo/echo"
	"github.com/weft-mesh/weft/internal/sidecar"
)

// runDemo starts a small mesh in this process: two versions of a catalog
// service, each behind its own sidecar, and a frontend sidecar that the demo
// client calls through. It shows routing, a weighted split changed live, and
// what the app saw, then exits (or keeps serving with --serve).
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("demo", stderr)
	n := fs.Int("requests", 200, "requests per traffic phase")
	serve := fs.Bool("serve", false, "keep the mesh running after the tour (Ctrl-C stops it)")
	verbose := fs.Bool("v", false, "show sidecar logs")
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
	apps := map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		addr, err := m.app(echo.Handler("catalog", v))
		if err != nil {
			return err
		}
		apps[v] = addr
	}
	inbound := map[string]string{}
	for _, v := range []string{"v1", "v2"} {
		cfg := &sidecar.Config{
			Node: "catalog-" + v, Service: "catalog", Admin: "off",
			Inbound: []sidecar.Inbound{{Name: "http", Listen: "127.0.0.1:0", App: apps[v]}},
		}
		a, _, err := m.sidecar(ctx, cfg)
		if err != nil {
			return err
		}
		inbound[v] = a.Inbound["http"]
	}
	front := frontendConfig(inbound, 90, 10)
	fa, fsc, err := m.sidecar(ctx, front)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n  catalog v1 app %s  <- its sidecar (inbound) %s\n", apps["v1"], inbound["v1"])
	fmt.Fprintf(stdout, "  catalog v2 app %s  <- its sidecar (inbound) %s\n", apps["v2"], inbound["v2"])
	fmt.Fprintf(stdout, "  frontend sidecar: HTTP_PROXY=http://%s, catalog also on %s, admin http://%s\n\n",
		fa.Proxy, fa.Outbound["catalog"], fa.Admin)

	proxyURL, _ := url.Parse("http://" + fa.Proxy)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}

	fmt.Fprintln(stdout, "1. One request, through HTTP_PROXY: the app sees what the mesh added.")
	rep, err := demoGet(client, "http://catalog/items/42", nil)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "   GET http://catalog/items/42 -> served by catalog %s, path %s\n", rep.Version, rep.Path)
	for _, h := range []string{"X-Request-Id", "X-Forwarded-For", "X-Forwarded-Proto"} {
		fmt.Fprintf(stdout, "   the app saw %s: %s\n", h, rep.Headers[h])
	}

	fmt.Fprintf(stdout, "\n2. Weighted split v1:v2 = 90:10, %d requests:\n", *n)
	if err := demoSplit(stdout, client, *n, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n3. Header-based canary: x-canary: always goes to v2:")
	if err := demoSplit(stdout, client, 20, map[string]string{"x-canary": "always"}); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n4. Live change to 50:50, swapped atomically while serving:")
	if err := fsc.Reload(frontendConfig(inbound, 50, 50)); err != nil {
		return err
	}
	if err := demoSplit(stdout, client, *n, nil); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "\n5. A bad config is refused with the field and the reason; traffic continues:")
	bad := frontendConfig(inbound, 50, 50)
	bad.Routes[0].Rules[1].Backends[1].Subset = "v3"
	bad.Services[0].LB = "fastest"
	if err := fsc.Reload(bad); err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			fmt.Fprintf(stdout, "   %s\n", line)
		}
	}
	if _, err := demoGet(client, "http://catalog/still-ok", nil); err != nil {
		return fmt.Errorf("request after rejected config: %w", err)
	}
	fmt.Fprintln(stdout, "   GET http://catalog/still-ok -> 200")

	fmt.Fprintf(stdout, "\nMetrics: curl http://%s/metrics   Config: curl http://%s/config\n", fa.Admin, fa.Admin)
	if *serve {
		fmt.Fprintln(stdout, "Serving until Ctrl-C.")
		<-ctx.Done()
	}
	return nil
}

func frontendConfig(inbound map[string]string, w1, w2 uint32) *sidecar.Config {
	return &sidecar.Config{
		Node: "frontend-1", Service: "frontend", Admin: "127.0.0.1:0",
		Outbound: sidecar.Outbound{
			Proxy: "127.0.0.1:0",
			Ports: []sidecar.OutboundPort{{Listen: "127.0.0.1:0", Service: "catalog"}},
		},
		Services: []sidecar.Service{{
			Name: "catalog",
			Endpoints: []sidecar.Endpoint{
				{Address: inbound["v1"], Labels: map[string]string{"version": "v1"}},
				{Address: inbound["v2"], Labels: map[string]string{"version": "v2"}},
			},
			Subsets: []sidecar.Subset{
				{Name: "v1", Labels: map[string]string{"version": "v1"}},
				{Name: "v2", Labels: map[string]string{"version": "v2"}},
			},
		}},
		Routes: []sidecar.RouteSet{{Service: "catalog", Rules: []sidecar.Rule{
			{Name: "canary", Match: sidecar.RuleMatch{Headers: []sidecar.KVMatch{{Name: "x-canary", Exact: "always"}}},
				Backends: []sidecar.BackendRef{{Service: "catalog", Subset: "v2"}}},
			{Name: "split", Backends: []sidecar.BackendRef{
				{Service: "catalog", Subset: "v1", Weight: w1},
				{Service: "catalog", Subset: "v2", Weight: w2},
			}},
		}}},
	}
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

func (m *demoMesh) stop() {
	for i := len(m.stops) - 1; i >= 0; i-- {
		m.stops[i]()
	}
	m.wg.Wait()
}

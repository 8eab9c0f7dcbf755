//go:build !proxyonly

package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/controlplane"
	"github.com/weft-mesh/weft/internal/sidecar"
)

// demoMesh owns what the demo runs in its own process (the control plane
// and the load generator's sidecar), so stop ends it all.
type demoMesh struct {
	log   *slog.Logger
	wg    sync.WaitGroup
	stops []func()
}

// sidecar runs an in-process sidecar until the mesh stops.
func (m *demoMesh) sidecar(ctx context.Context, cfg *sidecar.Config) (sidecar.Addrs, error) {
	cfg.SetDefaults()
	cfg.Limits.DrainTimeout = time.Second
	cfg.Limits.DrainDelay = 100 * time.Millisecond
	ready := make(chan sidecar.Addrs, 1)
	sc, err := sidecar.New(cfg, sidecar.Options{Logger: m.log, Ready: func(a sidecar.Addrs) { ready <- a }})
	if err != nil {
		return sidecar.Addrs{}, err
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
		return a, nil
	case err := <-errc:
		return sidecar.Addrs{}, fmt.Errorf("sidecar %s: %w", cfg.Node, err)
	case <-time.After(10 * time.Second):
		return sidecar.Addrs{}, errors.New("sidecar did not start within 10s")
	}
}

// control runs the control plane with an embedded etcd in dataDir.
// dashboard is the web dashboard's address; when it is taken (another
// mesh or demo on this machine), a free port serves it instead.
func (m *demoMesh) control(ctx context.Context, dataDir, dashboard string) (controlplane.Addrs, error) {
	if dashboard != "off" && dashboard != "" {
		if l, err := net.Listen("tcp", dashboard); err != nil {
			dashboard = "127.0.0.1:0"
		} else {
			l.Close()
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	ready := make(chan controlplane.Addrs, 1)
	errc := make(chan error, 1)
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		errc <- controlplane.Run(cctx, controlplane.Config{
			DataDir: dataDir, XDS: "127.0.0.1:0", API: "127.0.0.1:0", Dashboard: dashboard, LeaseTTL: 5 * time.Second, Logger: m.log,
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

// waitSynced waits until n sidecars have ACKed config revision rev.
func waitSynced(ctx context.Context, c *apiclient.Client, rev int64, n int) error {
	return waitSyncedNodes(ctx, c, rev, n, nil)
}

// waitSyncedNodes is waitSynced for a change that reaches only the named
// sidecars (an AuthorizationPolicy changes its service's inbound alone):
// the others are not pushed it, so they keep an earlier revision.
func waitSyncedNodes(ctx context.Context, c *apiclient.Client, rev int64, n int, only []string) error {
	prefix := strconv.FormatInt(rev, 10) + "."
	var last []string
	err := waitFor(ctx, 15*time.Second, fmt.Sprintf("%d sidecars to ACK revision %d", n, rev), func() bool {
		ps, err := c.Proxies(ctx)
		if err != nil || len(ps) != n {
			return false
		}
		last = last[:0]
		for _, p := range ps {
			last = append(last, fmt.Sprintf("%s %s %s", p.Node, p.State, p.Version))
		}
		for _, p := range ps {
			if only != nil && !slices.Contains(only, p.Node) {
				continue
			}
			if p.State != "SYNCED" || !strings.HasPrefix(p.Version, prefix) {
				return false
			}
		}
		return true
	})
	if err != nil && last != nil {
		err = fmt.Errorf("%w (%s)", err, strings.Join(last, "; "))
	}
	return err
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

// dashboardLink is the demo dashboard's URL carrying the operator token,
// so the page can change weights without the user pasting it; "" when
// the dashboard is off. The token is the demo's own, made for this run.
func dashboardLink(cp controlplane.Addrs) string {
	tok, err := os.ReadFile(cp.OperatorTokenFile)
	if err != nil {
		return cp.DashboardURL
	}
	return cp.DashboardLink(strings.TrimSpace(string(tok)))
}

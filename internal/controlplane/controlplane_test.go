package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/xds/client"
	"github.com/weft-mesh/weft/internal/xds/xdstest"
)

const services = `[
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"},
  "spec": {"ports": [{"port": 80}], "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}}
]`

func route(w1, w2 int) string {
	return `{"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "catalog-split"},
  "spec": {"parentRefs": [{"name": "catalog"}], "rules": [{"backendRefs": [
   {"name": "catalog", "subset": "v1", "weight": ` + itoa(w1) + `}, {"name": "catalog", "subset": "v2", "weight": ` + itoa(w2) + `}]}]}}`
}

func itoa(n int) string { return fmtInt(n) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	neg := n < 0
	if neg {
		n = -n
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	if neg {
		b = append([]byte{'-'}, b...)
	}
	return string(b)
}

// start runs a control plane on loopback with an embedded etcd in dir.
func start(t *testing.T, dir string) (Addrs, func()) {
	return startCfg(t, Config{DataDir: dir})
}

// startCfg runs cfg on loopback ports, with fast ticks and a short TTL.
func startCfg(t *testing.T, cfg Config) (Addrs, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan Addrs, 1)
	done := make(chan error, 1)
	cfg.XDS, cfg.API, cfg.FastTicks, cfg.LeaseTTL = "127.0.0.1:0", "127.0.0.1:0", true, 2*time.Second
	cfg.Ready = func(a Addrs) { ready <- a }
	go func() { done <- Run(ctx, cfg) }()
	select {
	case a := <-ready:
		return a, func() { cancel(); <-done }
	case err := <-done:
		cancel()
		t.Fatalf("control plane did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("control plane did not start in 30s")
	}
	return Addrs{}, nil
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type lastUpdate struct {
	mu sync.Mutex
	u  xdstest.Update
}

func (l *lastUpdate) apply(u xdstest.Update) error {
	if _, _, err := xdstest.ToProxy(u); err != nil {
		return err
	}
	l.mu.Lock()
	l.u = u
	l.mu.Unlock()
	return nil
}

func (l *lastUpdate) get() xdstest.Update {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.u
}

// weights returns the weights of the catalog route's backends as the
// sidecar would compile them, "" if absent.
func weights(u xdstest.Update) string {
	rc, _, err := xdstest.ToProxy(u)
	if err != nil {
		return "error: " + err.Error()
	}
	for _, vh := range rc.VirtualHosts {
		if vh.Name != "catalog.default" && !strings.HasPrefix(vh.Name, "catalog") {
			continue
		}
		var parts []string
		for _, b := range vh.Routes[0].Backends {
			parts = append(parts, b.Cluster+"="+fmtInt(int(b.Weight)))
		}
		return strings.Join(parts, ",")
	}
	return ""
}

func TestApplyPushHistoryRollback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addrs, stop := start(t, t.TempDir())
	defer stop()
	cli, err := newOpClient(t, addrs)
	if err != nil {
		t.Fatal(err)
	}

	// A sidecar connects before any config exists.
	conn, err := grpc.NewClient(addrs.XDS, xdsCreds(t, addrs, "frontend"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	got := &lastUpdate{}
	xc, err := xdstest.New(xdstest.Config{Node: "frontend-1", Conns: []grpc.ClientConnInterface{conn}, Apply: got.apply, MinBackoff: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cctx, ccancel := context.WithCancel(ctx)
	cdone := make(chan error, 1)
	go func() { cdone <- xc.Run(cctx) }()
	defer func() { ccancel(); <-cdone }()

	// A bad field is refused with its path; nothing is stored.
	bad := strings.Replace(route(90, 10), `"weight": 10`, `"weight": -1`, 1)
	_, err = cli.Apply(ctx, []byte(services[:len(services)-1]+","+bad+"]"), false)
	var apiErr *apiclient.Error
	if !errors.As(err, &apiErr) || apiErr.Code != 400 || !strings.Contains(err.Error(), "spec.rules[0].backendRefs[1].weight") {
		t.Fatalf("bad weight: want a 400 naming spec.rules[0].backendRefs[1].weight, got %v", err)
	}
	if h, _ := cli.History(ctx); len(h) != 0 {
		t.Fatalf("a refused apply made history: %+v", h)
	}

	// Dry run shows the diff and changes nothing.
	all := []byte(services[:len(services)-1] + "," + route(90, 10) + "]")
	dry, err := cli.Apply(ctx, all, true)
	if err != nil || !dry.DryRun || len(dry.Changes) != 2 || dry.Changes[0].Action != "created" || !strings.Contains(dry.Changes[0].Diff, `+   "weight": 90`) && !strings.Contains(dry.Changes[0].Diff+dry.Changes[1].Diff, `"weight": 90`) {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	if h, _ := cli.History(ctx); len(h) != 0 {
		t.Fatalf("dry run made history: %+v", h)
	}

	r1, err := cli.Apply(ctx, all, false)
	if err != nil || r1.Revision != 1 {
		t.Fatalf("apply: %+v %v", r1, err)
	}
	waitFor(t, "90/10 pushed", func() bool { return weights(got.get()) == "catalog.default/v1=90,catalog.default/v2=10" })

	// Applying the same again is a no-op: no new revision.
	if r, err := cli.Apply(ctx, all, false); err != nil || r.Revision != 1 || r.Changes[0].Action != "unchanged" {
		t.Fatalf("re-apply: %+v %v", r, err)
	}

	// Change the weights live.
	r2, err := cli.Apply(ctx, []byte(route(50, 50)), false)
	if err != nil || r2.Revision != 2 || r2.Changes[0].Action != "configured" || !strings.Contains(r2.Changes[0].Diff, "-") {
		t.Fatalf("apply 50/50: %+v %v", r2, err)
	}
	waitFor(t, "50/50 pushed", func() bool { return weights(got.get()) == "catalog.default/v1=50,catalog.default/v2=50" })

	// The status reports the sidecar's ACK of revision 2.
	waitFor(t, "route programmed", func() bool {
		raw, err := cli.Get(ctx, "httproute", "default", "catalog-split")
		var rt mesh.HTTPRoute
		if err != nil || json.Unmarshal(raw, &rt) != nil {
			return false
		}
		for _, c := range rt.Status.Conditions {
			if c.Type == "Programmed" {
				return c.Status == "True" && strings.HasPrefix(c.Message, "1/1 sidecars")
			}
		}
		return false
	})
	ps, err := cli.Proxies(ctx)
	if err != nil || len(ps) != 1 || ps[0].Node != "frontend-1" || ps[0].State != api.Synced || !strings.HasPrefix(ps[0].Version, "2.") {
		t.Fatalf("proxies: %+v %v", ps, err)
	}

	// A second route claiming the same parent and match is refused.
	dup := strings.Replace(route(1, 1), "catalog-split", "catalog-other", 1)
	if _, err := cli.Apply(ctx, []byte(dup), false); !errors.As(err, &apiErr) || apiErr.Code != 409 || !strings.Contains(err.Error(), "conflicts with HTTPRoute/default/catalog-split") {
		t.Fatalf("conflicting route: want 409, got %v", err)
	}

	// History lists both revisions, newest first; rollback to 1 restores 90/10
	// as revision 3.
	h, err := cli.History(ctx)
	if err != nil || len(h) != 2 || h[0].Revision != 2 || h[1].Revision != 1 {
		t.Fatalf("history: %+v %v", h, err)
	}
	rb, err := cli.Rollback(ctx, 1, false)
	if err != nil || rb.Revision != 3 {
		t.Fatalf("rollback: %+v %v", rb, err)
	}
	waitFor(t, "rollback pushed", func() bool { return weights(got.get()) == "catalog.default/v1=90,catalog.default/v2=10" })
	if h, _ := cli.History(ctx); len(h) != 3 || h[0].Op != "rollback to 1" {
		t.Fatalf("history after rollback: %+v", h)
	}

	// Delete removes the route: the default route sends to the whole service.
	if _, err := cli.Delete(ctx, "HTTPRoute", "default", "catalog-split", false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "route deleted", func() bool { return weights(got.get()) == "catalog.default=1" })
	if _, err := cli.Delete(ctx, "HTTPRoute", "default", "catalog-split", false); !errors.As(err, &apiErr) || apiErr.Code != 404 {
		t.Fatalf("second delete: want 404, got %v", err)
	}
}

// Instances registered through the API reach the sidecars' endpoints, and
// leave them when deregistered; the config survives a restart on the same
// data directory.
func TestRegistrationAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dir := t.TempDir()
	addrs, stop := start(t, dir)
	cli, _ := newOpClient(t, addrs)
	if _, err := cli.Apply(ctx, []byte(services), false); err != nil {
		t.Fatal(err)
	}
	// A principal the registration claims is not believed: only the
	// verified client certificate sets it (here: the operator, none).
	lease, err := cli.Register(ctx, api.Registration{Instance: api.Instance{Service: "catalog", ID: "c1", Address: "127.0.0.1", Port: 9001, Labels: map[string]string{"version": "v2"}, Ready: true,
		Principal: "spiffe://weft.local/ns/default/sa/catalog"}})
	if err != nil || lease.Lease == 0 || lease.TTLSeconds != 2 {
		t.Fatalf("register: %+v %v", lease, err)
	}
	if ins, err := cli.Instances(ctx, "catalog"); err != nil || len(ins) != 1 || ins[0].Principal != "" {
		t.Fatalf("instances %+v %v: want c1 with no principal (registered by the operator)", ins, err)
	}
	if _, err := cli.Register(ctx, api.Registration{Instance: api.Instance{Service: "catalog", ID: "c2", Address: "nope", Port: 0}}); err == nil || !strings.Contains(err.Error(), "address") {
		t.Fatalf("bad instance accepted: %v", err)
	}
	conn, _ := grpc.NewClient(addrs.XDS, xdsCreds(t, addrs, "frontend"))
	defer conn.Close()
	got := &lastUpdate{}
	xc, _ := xdstest.New(xdstest.Config{Node: "n", Conns: []grpc.ClientConnInterface{conn}, Apply: got.apply, MinBackoff: 20 * time.Millisecond})
	cctx, ccancel := context.WithCancel(ctx)
	defer ccancel()
	go xc.Run(cctx)
	endpoints := func(cluster string) int {
		_, cs, err := xdstest.ToProxy(got.get())
		if err != nil {
			return -1
		}
		for _, c := range cs {
			if c.Name == cluster {
				return len(c.Endpoints)
			}
		}
		return -1
	}
	waitFor(t, "registered endpoint pushed to the v2 subset", func() bool { return endpoints("catalog.default/v2") == 1 && endpoints("catalog.default/v1") == 0 })
	if err := cli.Deregister(ctx, "catalog", "c1", lease.Lease); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "deregistered endpoint withdrawn", func() bool { return endpoints("catalog.default/v2") == 0 })

	stop()
	addrs, stop = start(t, dir)
	defer stop()
	cli, _ = newOpClient(t, addrs)
	if h, err := cli.History(ctx); err != nil || len(h) != 1 {
		t.Fatalf("history after restart: %+v %v", h, err)
	}
	if _, err := cli.Get(ctx, "svc", "default", "catalog"); err != nil {
		t.Fatalf("service lost in restart: %v", err)
	}
}

// A sidecar that declares the services it calls receives their config
// alone; one that declares nothing receives every service.
func TestScopedConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addrs, stop := start(t, t.TempDir())
	defer stop()
	cli, _ := newOpClient(t, addrs)
	two := `[{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "catalog"}, "spec": {"ports": [{"port": 80}]}},
	         {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "payments"}, "spec": {"ports": [{"port": 80}]}}]`
	if _, err := cli.Apply(ctx, []byte(two), false); err != nil {
		t.Fatal(err)
	}
	type seen struct {
		mu       sync.Mutex
		clusters []string
	}
	run := func(node string, services []string) *seen {
		s := &seen{}
		c, err := client.New(client.Config{Node: node, Services: services, Servers: []string{addrs.XDS}, MinBackoff: 20 * time.Millisecond, TLS: workloadTLS(t, addrs, "frontend"),
			Apply: func(u client.Update) error {
				var names []string
				for _, c := range u.Clusters {
					names = append(names, c.Name)
				}
				s.mu.Lock()
				s.clusters = names
				s.mu.Unlock()
				return nil
			}})
		if err != nil {
			t.Fatal(err)
		}
		cctx, ccancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { c.Run(cctx); close(done) }()
		t.Cleanup(func() { ccancel(); <-done })
		return s
	}
	get := func(s *seen) string {
		s.mu.Lock()
		defer s.mu.Unlock()
		return strings.Join(s.clusters, ",")
	}
	scoped, all := run("frontend-scoped", []string{"catalog"}), run("frontend-all", nil)
	waitFor(t, "scoped sidecar gets catalog alone", func() bool { return get(scoped) == "catalog.default" })
	waitFor(t, "unscoped sidecar gets both", func() bool { return get(all) == "catalog.default,payments.default" })

	// A third service reaches the unscoped sidecar only.
	third := `{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "reviews"}, "spec": {"ports": [{"port": 80}]}}`
	if _, err := cli.Apply(ctx, []byte(third), false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "unscoped sidecar gets the new service", func() bool {
		return get(all) == "catalog.default,payments.default,reviews.default"
	})
	if got := get(scoped); got != "catalog.default" {
		t.Fatalf("scoped sidecar received %s", got)
	}
}

// A config larger than one apply's cap (1,000 resources) is stored, read
// back and translated: the stored document is decoded in batches and kept
// compressed under etcd's request limit.
func TestLargeConfig(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	addrs, stop := start(t, t.TempDir())
	defer stop()
	cli, _ := newOpClient(t, addrs)
	const total = 2500
	for lo := 0; lo < total; lo += 1000 {
		var items []string
		for i := lo; i < min(lo+1000, total); i++ {
			items = append(items, `{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "svc-`+fmtInt(i)+`"},
			 "spec": {"ports": [{"port": 80}], "endpoints": [{"address": "10.0.0.1", "port": 8080}]}}`)
		}
		if _, err := cli.Apply(ctx, []byte("["+strings.Join(items, ",")+"]"), false); err != nil {
			t.Fatalf("apply from %d: %v", lo, err)
		}
	}
	all, err := cli.List(ctx, "Service")
	if err != nil || len(all) != total {
		t.Fatalf("listed %d services (want %d): %v", len(all), total, err)
	}
	if h, err := cli.History(ctx); err != nil || len(h) != 3 || h[0].Resources != total {
		t.Fatalf("history %+v %v", h, err)
	}
}

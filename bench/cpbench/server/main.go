// Command server is Weft's side of the control-plane push benchmark: the
// same mesh, flags and admin endpoints as the go-control-plane anchor in
// ../shared/cpbench/server, so the anchor's unmodified client measures both.
// It is built on internal/xds/server and internal/xds/translate: S services
// as mesh.Service resources, each with 3 registry instances, translated to
// one cluster and one ClusterLoadAssignment per service, one outbound
// listener (HCM over RDS) and one RouteConfiguration with a virtual host per
// service. Every node is served the same config, marshalled once.
//
// Admin (HTTP, 127.0.0.1):
//
//	GET /push?kind=eds|all  -> changes the mesh, records T0, translates, marshals, publishes
//	GET /stats[?gc=1]       -> RSS, Go heap, goroutines, streams, counters
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/xds/server"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// The anchor's flags, so run scripts pass the same arguments to both.
var (
	addr      = flag.String("addr", "127.0.0.1:18000", "ADS listen address")
	adminA    = flag.String("admin", "127.0.0.1:18001", "admin HTTP address")
	services  = flag.Int("services", 100, "number of services S")
	adsMode   = flag.Bool("ads", true, "accepted for compatibility with the anchor; Weft's server always serves ADS")
	dedup     = flag.Bool("dedup", true, "marshal one config for all nodes; false = marshal a private copy per node")
	mutexProf = flag.Int("mutexprofile", 0, "runtime.SetMutexProfileFraction (0 = off)")
	ordered   = flag.Bool("ordered", false, "accepted for compatibility with the anchor; Weft always pushes CDS, EDS, LDS, RDS in order")
)

// types orders the per-type versions as the anchor reports them.
var types = [4]string{server.ClusterType, server.EndpointType, server.ListenerType, server.RouteType}

func svcName(i int) string { return fmt.Sprintf("svc-%04d", i) }

// bench is the mesh and what was last published.
type bench struct {
	srv *server.Server

	mu        sync.Mutex // serialises pushes
	services  []mesh.Resource
	instances []registry.Instance
	version   int
	pushN     int
	cur       *server.Resources
	perNode   map[string]*server.Resources // dedup=false only
}

func newBench(srv *server.Server, n int) (*bench, error) {
	b := &bench{srv: srv, version: 1, perNode: map[string]*server.Resources{}}
	for i := range n {
		svc := &mesh.Service{
			TypeMeta: mesh.TypeMeta{APIVersion: mesh.APIVersion, Kind: mesh.KindService},
			Metadata: mesh.ObjectMeta{Name: svcName(i)},
			Spec:     mesh.ServiceSpec{Ports: []mesh.ServicePort{{Port: 80}}},
		}
		svc.SetDefaults()
		if err := svc.Validate(); err != nil {
			return nil, fmt.Errorf("bench mesh: %w", err)
		}
		b.services = append(b.services, svc)
		for j := range 3 {
			in := registry.Instance{Service: svcName(i), ID: fmt.Sprintf("i%d", j),
				Address: fmt.Sprintf("10.%d.%d.%d", i/250, i%250, j+1), Port: 8080, Zone: "z1", Ready: true}
			if err := in.Validate(); err != nil {
				return nil, fmt.Errorf("bench mesh: %w", err)
			}
			b.instances = append(b.instances, in)
		}
	}
	res, err := b.marshal(nil)
	if err != nil {
		return nil, err
	}
	b.cur = res
	srv.Set(res)
	return b, nil
}

// marshal translates the current mesh; with prev, types whose content did
// not change keep prev's version and are not pushed again.
func (b *bench) marshal(prev *server.Resources) (*server.Resources, error) {
	snap, err := translate.Translate(translate.Input{Resources: b.services, Instances: b.instances}, nil)
	if err != nil {
		return nil, fmt.Errorf("translate: %w", err)
	}
	res, err := server.MarshalFrom(prev, strconv.Itoa(b.version), snap)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return res, nil
}

type pushResult struct {
	Kind       string   `json:"kind"`
	Versions   [4]int   `json:"versions"` // CDS, EDS, LDS, RDS
	Changed    []string `json:"changed"`
	T0         int64    `json:"t0_unix_ns"`
	BuildNs    int64    `json:"build_ns"`
	SetAllNs   int64    `json:"set_all_ns"` // T0 -> Set returned
	Nodes      int      `json:"nodes"`
	ChangedSvc string   `json:"changed_service"`
}

// push changes one service's endpoints (kind eds) and, for kind all, also
// re-versions every type, as the anchor does. Unlike the anchor, T0 is taken
// before translating and marshalling (dedup=true), so Weft's convergence
// includes its whole build; build_ns reports that part.
func (b *bench) push(kind string) (pushResult, error) {
	if kind != "eds" && kind != "all" {
		return pushResult{}, fmt.Errorf("push: kind must be eds or all; got %q", kind)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.pushN++
	b.version++
	svc := (b.pushN - 1) % len(b.services)
	// One instance of the service flips readiness: its endpoint's health
	// changes, so exactly one ClusterLoadAssignment differs.
	in := &b.instances[svc*3+((b.pushN-1)/len(b.services))%3]
	var nodes []string
	if !*dedup {
		for _, p := range b.srv.Proxies() {
			nodes = append(nodes, p.Node)
		}
	}
	tb := time.Now()
	in.Ready = !in.Ready
	prev := b.cur
	if kind == "all" {
		prev = nil // every type gets the new version, and every type is pushed
	}
	res, err := b.marshal(prev)
	if err != nil {
		return pushResult{}, err
	}
	b.cur = res
	// dedup=false: a private copy per node, built before T0 so the
	// measured interval covers only the fan-out, as in the anchor. A node's
	// first private copy has no predecessor, so its first push carries
	// every type.
	per := map[string]*server.Resources{}
	for _, n := range nodes {
		p := b.perNode[n]
		if kind == "all" {
			p = nil
		}
		if per[n], err = b.marshal(p); err != nil {
			return pushResult{}, err
		}
	}
	built := time.Now()
	t0 := tb
	if !*dedup {
		t0 = built
	}
	if *dedup {
		b.srv.Set(res)
	} else {
		maps.Copy(b.perNode, per)
		b.srv.SetNodes(per)
	}
	done := time.Now()
	out := pushResult{Kind: kind, T0: t0.UnixNano(), BuildNs: built.Sub(tb).Nanoseconds(), SetAllNs: done.Sub(t0).Nanoseconds(),
		Nodes: int(b.srv.Counters().Proxies), ChangedSvc: svcName(svc), Changed: []string{"eds"}}
	if kind == "all" {
		out.Changed = []string{"cds", "eds", "lds", "rds"}
	}
	for i, t := range types {
		out.Versions[i], _ = strconv.Atoi(res.TypeVersion(t))
	}
	return out, nil
}

func procStatus() map[string]string {
	out := map[string]string{}
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(k, "Vm") {
			out[k] = strings.TrimSpace(v)
		}
	}
	return out
}

func (b *bench) stats(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("gc") == "1" {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	c := b.srv.Counters()
	json.NewEncoder(w).Encode(map[string]any{
		"proc": procStatus(), "heap_inuse": ms.HeapInuse, "heap_alloc": ms.HeapAlloc, "stack_inuse": ms.StackInuse,
		"sys": ms.Sys, "num_gc": ms.NumGC, "goroutines": runtime.NumGoroutine(), "nodes": c.Proxies,
		"open_streams": c.Streams, "requests": c.Requests, "nacks": c.NACKs, "responses": c.Responses,
		"gomaxprocs": runtime.GOMAXPROCS(0), "pid": os.Getpid(),
	})
}

func run(log *slog.Logger) error {
	if *services < 1 {
		return fmt.Errorf("-services must be at least 1; got %d", *services)
	}
	if *mutexProf > 0 {
		runtime.SetMutexProfileFraction(*mutexProf)
	}
	// Per-connection logs would cost more than the pushes at 10,000
	// proxies; the server's warnings (NACKs) still show.
	xlog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	srv := server.New(xlog)
	b, err := newBench(srv, *services)
	if err != nil {
		return err
	}
	gs := grpc.NewServer(srv.ServerOptions()...)
	srv.Register(gs)
	lis, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/push", func(w http.ResponseWriter, r *http.Request) {
		kind := r.URL.Query().Get("kind")
		if kind == "" {
			kind = "eds"
		}
		res, err := b.push(kind)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("/stats", b.stats)
	errc := make(chan error, 2)
	go func() { errc <- http.ListenAndServe(*adminA, mux) }()
	go func() { errc <- gs.Serve(lis) }()
	log.Info("weft ADS server", "addr", *addr, "admin", *adminA, "services", *services, "dedup", *dedup,
		"ads", *adsMode, "ordered", *ordered, "pid", os.Getpid())
	err = <-errc
	gs.Stop()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return fmt.Errorf("serve: %w", err)
}

func main() {
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log); err != nil {
		log.Error("cpbench server", "err", err)
		os.Exit(1)
	}
}

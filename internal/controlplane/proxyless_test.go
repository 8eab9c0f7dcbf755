package controlplane

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/xds"

	"github.com/weft-mesh/weft/internal/api"
)

// grpcBackend is one in-process gRPC server on loopback serving the health
// service; the client tells backends apart by the peer it reached.
type grpcBackend struct {
	id, version string
	addr        *net.TCPAddr
	srv         *grpc.Server
	done        chan struct{}
}

func startBackend(t *testing.T, id, version string) *grpcBackend {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &grpcBackend{id: id, version: version, addr: ln.Addr().(*net.TCPAddr), srv: grpc.NewServer(), done: make(chan struct{})}
	healthpb.RegisterHealthServer(b.srv, health.NewServer())
	go func() { defer close(b.done); b.srv.Serve(ln) }()
	t.Cleanup(func() { b.srv.Stop(); <-b.done })
	return b
}

// proxylessRoute splits catalog between its subsets w1:w2, with a canary
// header that always reaches v2.
func proxylessRoute(w1, w2 int) string {
	return fmt.Sprintf(`{"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "catalog-split"},
  "spec": {"parentRefs": [{"name": "catalog"}], "rules": [
   {"matches": [{"headers": [{"name": "x-canary", "value": "always"}]}], "backendRefs": [{"name": "catalog", "subset": "v2"}]},
   {"backendRefs": [{"name": "catalog", "subset": "v1", "weight": %d}, {"name": "catalog", "subset": "v2", "weight": %d}]}]}}`, w1, w2)
}

// A grpc-go client, with nothing but grpc-go's own xds package and a
// bootstrap pointing at the control plane, dials xds:///catalog: it
// follows the route's weights (90/10, then 50/50 applied live), its
// header match, and an instance leaving while RPCs run, without one RPC
// failing; the API lists it as SYNCED.
func TestProxylessGRPCClient(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	runCtx, stopCP := context.WithCancel(ctx)
	ready := make(chan Addrs, 1)
	cpDone := make(chan error, 1)
	go func() {
		// A long lease: the instances below are registered once, not kept
		// alive by a sidecar.
		cpDone <- Run(runCtx, Config{DataDir: t.TempDir(), XDS: "127.0.0.1:0", API: "127.0.0.1:0", FastTicks: true,
			LeaseTTL: time.Minute, Ready: func(a Addrs) { ready <- a }})
	}()
	var addrs Addrs
	select {
	case addrs = <-ready:
	case err := <-cpDone:
		t.Fatalf("control plane did not start: %v", err)
	case <-ctx.Done():
		t.Fatal("control plane did not start")
	}
	defer func() { stopCP(); <-cpDone }()
	cli, err := newOpClient(t, addrs)
	if err != nil {
		t.Fatal(err)
	}

	backends := []*grpcBackend{startBackend(t, "b1", "v1"), startBackend(t, "b2", "v1"), startBackend(t, "b3", "v2")}
	byAddr := map[string]*grpcBackend{}
	leases := map[string]int64{}
	for _, b := range backends {
		byAddr[b.addr.String()] = b
		l, err := cli.Register(ctx, api.Registration{Instance: api.Instance{Service: "catalog", ID: b.id, Address: "127.0.0.1",
			Port: b.addr.Port, Labels: map[string]string{"version": b.version}, Ready: true}})
		if err != nil {
			t.Fatal(err)
		}
		leases[b.id] = l.Lease
	}
	if _, err := cli.Apply(ctx, []byte("["+strings.TrimSuffix(strings.TrimPrefix(services, "["), "]")+","+proxylessRoute(90, 10)+"]"), false); err != nil {
		t.Fatal(err)
	}

	const nodeID = "grpc-client-1"
	// The xDS port admits mesh workloads only: the client presents an SVID
	// and verifies the control plane with its CA (grpc-go's file-watcher
	// "tls" channel credentials, which reload the files as they rotate).
	cert, key, caFile := writeSVIDFiles(t, addrs, "frontend")
	bootstrap := fmt.Sprintf(`{"xds_servers": [{"server_uri": %q, "channel_creds": [{"type": "tls", "config": {"ca_certificate_file": %q, "certificate_file": %q, "private_key_file": %q}}]}], "node": {"id": %q}}`, addrs.XDS, caFile, cert, key, nodeID)
	resolver, err := xds.NewXDSResolverWithConfigForTesting([]byte(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("xds:///catalog", grpc.WithResolvers(resolver), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	call := func(ctx context.Context) (*grpcBackend, error) {
		var p peer.Peer
		rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
		defer rcancel()
		if _, err := hc.Check(rctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
			return nil, err
		}
		return byAddr[p.Addr.String()], nil
	}
	// share sends n RPCs and returns the fraction that reached v2.
	share := func(ctx context.Context, n int) float64 {
		t.Helper()
		v2 := 0
		for i := range n {
			b, err := call(ctx)
			if err != nil || b == nil {
				t.Fatalf("rpc %d: backend %v, %v", i, b, err)
			}
			if b.version == "v2" {
				v2++
			}
		}
		return float64(v2) / float64(n)
	}
	// synced waits until the client has ACKed the routes of revision rev.
	synced := func(rev int64) api.Proxy {
		t.Helper()
		var last api.Proxy
		waitFor(t, fmt.Sprintf("%s to ACK the routes of revision %d", nodeID, rev), func() bool {
			ps, err := cli.Proxies(ctx)
			if err != nil {
				return false
			}
			for _, p := range ps {
				if p.Node == nodeID {
					last = p
					return p.State == api.Synced && strings.HasPrefix(p.Acked["RDS"], fmt.Sprintf("%d.", rev))
				}
			}
			return false
		})
		return last
	}

	// The first RPC waits for the resolver; the config it resolves is the
	// 90/10 route (the route existed before the client).
	if got := share(ctx, 2000); got < 0.07 || got > 0.13 {
		t.Fatalf("90/10: v2 took %.1f%% of 2000 RPCs, want 10 ±3", 100*got)
	} else {
		t.Logf("90/10: v2 took %.1f%% of 2000 RPCs", 100*got)
	}
	synced(1)

	// The canary header always reaches v2.
	canary := metadata.AppendToOutgoingContext(ctx, "x-canary", "always")
	if got := share(canary, 200); got != 1 {
		t.Fatalf("x-canary: always: v2 took %.1f%%, want all", 100*got)
	}

	// 50/50, applied live. 4,000 RPCs keep the ±3 points beyond 3.7 sigma.
	r2, err := cli.Apply(ctx, []byte(proxylessRoute(50, 50)), false)
	if err != nil {
		t.Fatal(err)
	}
	synced(r2.Revision)
	if got := share(ctx, 4000); got < 0.47 || got > 0.53 {
		t.Fatalf("50/50: v2 took %.1f%% of 4000 RPCs, want 50 ±3", 100*got)
	} else {
		t.Logf("50/50: v2 took %.1f%% of 4000 RPCs", 100*got)
	}

	// b2 leaves while RPCs run: deregistered, its endpoint withdrawn, then
	// stopped. Not one RPC may fail.
	var calls, failures, sinceB2 atomic.Int64
	var firstErr atomic.Value
	loopCtx, stopLoop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loopCtx.Err() == nil {
				b, err := call(ctx)
				calls.Add(1)
				switch {
				case err != nil:
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err)
				case b.id == "b2":
					sinceB2.Store(0)
				default:
					sinceB2.Add(1)
				}
			}
		}()
	}
	waitFor(t, "RPCs under way", func() bool { return calls.Load() > 200 })
	if err := cli.Deregister(ctx, "catalog", "b2", leases["b2"]); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b2 out of rotation", func() bool { return sinceB2.Load() > 400 })
	backends[1].srv.GracefulStop()
	after := calls.Load()
	waitFor(t, "RPCs after b2 stopped", func() bool { return calls.Load() > after+400 })
	stopLoop()
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of %d RPCs failed while b2 left; first: %v", n, calls.Load(), firstErr.Load())
	}

	t.Logf("%d RPCs while b2 left, none failed", calls.Load())
	p := synced(r2.Revision)
	if len(p.NACKs) > 0 || p.Acked["LDS"] == "" || p.Acked["CDS"] == "" || p.Acked["EDS"] == "" {
		t.Fatalf("proxy status %+v", p)
	}

	// As the README says: a process given the bootstrap in
	// GRPC_XDS_BOOTSTRAP_CONFIG dials xds:///catalog.default with nothing
	// else. grpc-go reads the variable when it starts, so this is a child
	// process: the test binary, running the helper below.
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestProxylessEnvBootstrapHelper$", "-test.v")
	cmd.Env = append(os.Environ(), helperEnv+"=1", "GRPC_XDS_BOOTSTRAP_CONFIG="+strings.Replace(bootstrap, nodeID, nodeID+"-env", 1))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "answered by 127.0.0.1:") {
		t.Fatalf("client with GRPC_XDS_BOOTSTRAP_CONFIG: %v\n%s", err, out)
	}
}

const helperEnv = "WEFT_TEST_PROXYLESS_HELPER"

// TestProxylessEnvBootstrapHelper is TestProxylessGRPCClient's child
// process; on its own it does nothing.
func TestProxylessEnvBootstrapHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		t.Skip("run by TestProxylessGRPCClient")
	}
	conn, err := grpc.NewClient("xds:///catalog.default", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var p peer.Peer
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p)); err != nil {
		t.Fatal(err)
	}
	t.Logf("answered by %s", p.Addr)
}

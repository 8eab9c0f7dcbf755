package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// grpcClientEnv makes the test binary a grpc-go client of catalog:80 that
// finds its proxy in HTTPS_PROXY, as users' clients do (net/http reads
// the variable once per process, so the client runs in its own).
const grpcClientEnv = "WEFT_E2E_GRPC_CLIENT"

// grpcBackend runs a gRPC health server on loopback that names itself in
// a response header and a trailer.
func grpcBackend(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tag := func(ctx context.Context) {
		grpc.SetHeader(ctx, metadata.Pairs("backend", name))
		grpc.SetTrailer(ctx, metadata.Pairs("served-by", name))
	}
	srv := grpc.NewServer(
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			tag(ctx)
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			tag(ss.Context())
			return h(srv, ss)
		}))
	hs := health.NewServer()
	hs.SetServingStatus("catalog", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// TestGRPCWithoutProtocolDeclaration: a Service with no protocol carries
// grpc-go calls from a caller sidecar to callee sidecars and real gRPC
// servers: unary and streaming RPCs, status codes and trailers. Then grpc-go
// through HTTPS_PROXY (CONNECT catalog:80) on one connection follows the
// route's 50/50 weights per request.
func TestGRPCWithoutProtocolDeclaration(t *testing.T) {
	if os.Getenv(grpcClientEnv) != "" {
		t.Skip("runs as the grpc client helper")
	}
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if out, ok := weft(t, c.api, catalogMesh(50, 50), "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s], cacheDir: %s}\n", c.xds, c.api, t.TempDir())
	for _, v := range []string{"v1", "v2"} {
		app := grpcBackend(t, v)
		admin := freePort(t)
		startSidecar(t, "catalog-"+v, admin, fmt.Sprintf(`node: catalog-%s
service: catalog
admin: %s
inbound: [{name: grpc, listen: %s, app: %s}]
register: {labels: {version: %s}, probe: {interval: 200ms}}
limits: {drainTimeout: 1s}
`, v, admin, freePort(t), app, v)+cpYAML)
	}
	admin, proxyAddr, port := freePort(t), freePort(t), freePort(t)
	startSidecar(t, "frontend", admin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
outbound: {proxy: %s, ports: [{listen: %s, service: catalog}]}
limits: {drainTimeout: 1s}
`, admin, proxyAddr, port)+cpYAML)

	conn, err := grpc.NewClient("passthrough:///"+port, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	var served []string
	var lastErr string
	eventually(t, 20*time.Second, "a unary RPC through both sidecars", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		var tr metadata.MD
		resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "catalog"}, grpc.Trailer(&tr))
		if err != nil {
			if err.Error() != lastErr { // while the mesh converges; the last one explains a timeout
				lastErr = err.Error()
				t.Logf("unary: %v", err)
			}
			return false
		}
		served = tr.Get("served-by")
		return resp.Status == healthpb.HealthCheckResponse_SERVING
	})
	if len(served) != 1 {
		t.Fatalf("trailer served-by = %v", served)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("status through the mesh: %v, want NotFound", err)
	}
	ws, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "catalog"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ws.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("server stream: %v %v", m, err)
	}
	if h, err := ws.Header(); err != nil || len(h.Get("backend")) != 1 {
		t.Fatalf("stream headers: %v %v", h, err)
	}

	// grpc-go through HTTPS_PROXY: one ClientConn, one CONNECT.
	cmd := exec.Command(os.Args[0], "-test.run=^TestGRPCProxyClientHelper$", "-test.count=1")
	cmd.Env = append(withoutProxyEnv(os.Environ()), grpcClientEnv+"=1", "HTTPS_PROXY=http://"+proxyAddr)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("grpc client through HTTPS_PROXY: %v\n%s", err, out.String())
	}
	var v1, v2 int
	if _, err := fmt.Sscanf(lineWith(out.String(), "served:"), "served: v1=%d v2=%d", &v1, &v2); err != nil {
		t.Fatalf("client output: %v\n%s", err, out.String())
	}
	// 200 calls at 50/50: each side within 30..70 %.
	if v1+v2 != 200 || v1 < 60 || v2 < 60 {
		t.Fatalf("CONNECT catalog:80 split v1=%d v2=%d, want about 100/100", v1, v2)
	}
}

// TestGRPCProxyClientHelper is the grpc-go client that
// TestGRPCWithoutProtocolDeclaration runs in a process of its own.
func TestGRPCProxyClientHelper(t *testing.T) {
	if os.Getenv(grpcClientEnv) == "" {
		t.Skip("helper process only")
	}
	conn, err := grpc.NewClient("catalog:80", grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	counts := map[string]int{}
	for i := 0; i < 200; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var h metadata.MD
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "catalog"}, grpc.Header(&h))
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		counts[strings.Join(h.Get("backend"), ",")]++
	}
	fmt.Printf("served: v1=%d v2=%d\n", counts["v1"], counts["v2"])
}

func withoutProxyEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY":
			continue
		}
		out = append(out, kv)
	}
	return out
}

func lineWith(s, prefix string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	return ""
}

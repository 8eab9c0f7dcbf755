package proxy

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	rpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
)

// TestGRPCThroughProxy runs a real grpc-go server and client through the
// HTTP/2 engine: unary, server streaming, bidirectional streaming, status
// propagation in trailers, and grpc-timeout.
func TestGRPCThroughProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	hs := health.NewServer()
	healthpb.RegisterHealthServer(srv, hs)
	reflection.Register(srv)
	go srv.Serve(ln)
	defer srv.Stop()

	addr := h2Engine(t, ln.Addr().String(), cluster.HTTP2)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)

	// Unary.
	resp, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("unary: %v %v", resp, err)
	}
	// A status error travels in trailers.
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("status: %v", err)
	}
	// Server streaming: the first message, then an update pushed later.
	ws, err := hc.Watch(ctx, &healthpb.HealthCheckRequest{Service: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	if m, err := ws.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVICE_UNKNOWN {
		t.Fatalf("watch first: %v %v", m, err)
	}
	hs.SetServingStatus("svc", healthpb.HealthCheckResponse_SERVING)
	if m, err := ws.Recv(); err != nil || m.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("watch update: %v %v", m, err)
	}
	// Bidirectional streaming: two requests on one stream.
	rs, err := rpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := rs.Send(&rpb.ServerReflectionRequest{MessageRequest: &rpb.ServerReflectionRequest_ListServices{}}); err != nil {
			t.Fatal(err)
		}
		r, err := rs.Recv()
		if err != nil || len(r.GetListServicesResponse().GetService()) < 2 {
			t.Fatalf("bidi %d: %v %v", i, r, err)
		}
	}
	rs.CloseSend()
	// grpc-timeout is honoured end to end.
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	ws2, err := hc.Watch(short, &healthpb.HealthCheckRequest{Service: "other"})
	if err == nil {
		ws2.Recv() // SERVICE_UNKNOWN
		_, err = ws2.Recv()
	}
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("deadline: %v", err)
	}
}

// TestGRPCNoRouteIsUnavailableStatus: the proxy's own failures reach gRPC
// clients as gRPC statuses, not bare HTTP errors.
func TestGRPCNoEndpointIsUnavailable(t *testing.T) {
	addr := h2Engine(t, "127.0.0.1:1", cluster.HTTP2) // nothing listens on port 1
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("got %v, want Unavailable", err)
	}
}

package e2e

import (
	"context"
	"net"
	"testing"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/grpc"
)

// grpcTraceService is an OTLP/gRPC collector: grpc-go's server with
// OpenTelemetry's generated service.
type grpcTraceService struct {
	coltrace.UnimplementedTraceServiceServer
	rcv *otlpReceiver
}

func (s grpcTraceService) Export(_ context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	s.rcv.add(req)
	return &coltrace.ExportTraceServiceResponse{}, nil
}

// TestTraceAcrossThreeServicesGRPC is the same chain with the sidecars
// told by OpenTelemetry's variables to export over OTLP/gRPC.
func TestTraceAcrossThreeServicesGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv := &otlpReceiver{}
	srv := grpc.NewServer()
	coltrace.RegisterTraceServiceServer(srv, grpcTraceService{rcv: rcv})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://"+ln.Addr().String())
	traceThreeServices(t, rcv)
}

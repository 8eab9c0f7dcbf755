package otlp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	coltrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/internal/telemetry/tracing"
)

// grpcCollector is an OTLP/gRPC receiver on loopback: grpc-go's server
// with OpenTelemetry's generated service, so the hand-made client is held
// against the real thing.
type grpcCollector struct {
	coltrace.UnimplementedTraceServiceServer
	mu   sync.Mutex
	reqs []*coltrace.ExportTraceServiceRequest
	md   []metadata.MD
	// script answers the calls in order; past its end, OK.
	script []error
	// rejected is reported as a partial success on OK answers.
	rejected int64
	// hang makes Export wait for the caller to give up.
	hang bool
}

func (c *grpcCollector) Export(ctx context.Context, req *coltrace.ExportTraceServiceRequest) (*coltrace.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	c.mu.Lock()
	c.reqs = append(c.reqs, req)
	c.md = append(c.md, md)
	var err error
	if len(c.script) > 0 {
		err, c.script = c.script[0], c.script[1:]
	}
	hang, rejected := c.hang, c.rejected
	c.mu.Unlock()
	if hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	if err != nil {
		return nil, err
	}
	resp := &coltrace.ExportTraceServiceResponse{}
	if rejected > 0 {
		resp.PartialSuccess = &coltrace.ExportTracePartialSuccess{RejectedSpans: rejected, ErrorMessage: "span too old"}
	}
	return resp, nil
}

func (c *grpcCollector) calls() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.reqs)
}

// startGRPCCollector serves c on loopback (TLS with creds, else
// plaintext) and returns its address.
func startGRPCCollector(t *testing.T, c *grpcCollector, opts ...grpc.ServerOption) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	coltrace.RegisterTraceServiceServer(srv, c)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// running starts e.Run and returns its stop, which waits for the flush.
func running(e *Exporter) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

// waitFor polls cond until it holds or 10s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestGRPCExportDecodesWithOfficialTypes(t *testing.T) {
	col := &grpcCollector{}
	addr := startGRPCCollector(t, col)
	e, err := New(Config{Protocol: ProtocolGRPC, Endpoint: "http://" + addr, Interval: 10 * time.Millisecond,
		Headers:  map[string]string{"authorization": "Bearer s3cret"},
		Resource: Resource{ServiceName: "frontend", ServiceVersion: "v1", Namespace: "default", Instance: "frontend-1"}})
	if err != nil {
		t.Fatal(err)
	}
	stop := running(e)
	e.Export(span("GET catalog", tracing.KindClient, 200, ""))
	e.Export(span("GET catalog", tracing.KindServer, 503, "UH"))
	waitFor(t, "two spans exported", func() bool { return e.Stats().Exported == 2 })
	stop()
	col.mu.Lock()
	defer col.mu.Unlock()
	checkTwoSpans(t, col.reqs)
	if got := col.md[0].Get("authorization"); len(got) != 1 || got[0] != "Bearer s3cret" {
		t.Errorf("metadata authorization %q", got)
	}
	if st := e.Stats(); st.Exported != 2 || st.Failed != 0 || st.Dropped != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestGRPCRetryPolicy(t *testing.T) {
	retryInfo, err := status.New(codes.ResourceExhausted, "slow down").WithDetails(&errdetails.RetryInfo{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name             string
		script           []error
		calls            int
		exported, failed uint64
	}{
		{"unavailable is retried", []error{status.Error(codes.Unavailable, "restarting"), status.Error(codes.Unavailable, "restarting")}, 3, 1, 0},
		{"invalid argument is not", []error{status.Error(codes.InvalidArgument, "bad span")}, 1, 0, 1},
		{"resource exhausted without RetryInfo is not", []error{status.Error(codes.ResourceExhausted, "full")}, 1, 0, 1},
		{"resource exhausted with RetryInfo is", []error{retryInfo.Err()}, 2, 1, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			col := &grpcCollector{script: tt.script}
			addr := startGRPCCollector(t, col)
			e, err := New(Config{Protocol: ProtocolGRPC, Endpoint: addr, Insecure: true,
				Interval: 5 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			stop := running(e)
			defer stop()
			e.Export(span("x", tracing.KindServer, 200, ""))
			// A batch is counted once, when it is done with: the calls
			// made by then are all there will be.
			waitFor(t, "the batch settled", func() bool { st := e.Stats(); return st.Exported+st.Failed == 1 })
			if st := e.Stats(); st.Exported != tt.exported || st.Failed != tt.failed {
				t.Errorf("stats %+v, want exported %d failed %d", st, tt.exported, tt.failed)
			}
			if n := col.calls(); n != tt.calls {
				t.Errorf("%d calls, want %d", n, tt.calls)
			}
		})
	}
}

// Retries stop at RetryMax: a collector that stays unavailable costs the
// batch, not the exporter.
func TestGRPCRetryGivesUp(t *testing.T) {
	unavailable := make([]error, 1000)
	for i := range unavailable {
		unavailable[i] = status.Error(codes.Unavailable, "down")
	}
	col := &grpcCollector{script: unavailable}
	addr := startGRPCCollector(t, col)
	e, _ := New(Config{Protocol: ProtocolGRPC, Endpoint: "http://" + addr, Interval: 5 * time.Millisecond,
		RetryBackoff: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond})
	stop := running(e)
	defer stop()
	e.Export(span("x", tracing.KindServer, 200, ""))
	waitFor(t, "the batch failed", func() bool { return e.Stats().Failed == 1 })
	if n := col.calls(); n < 2 || n > 20 {
		t.Errorf("%d calls in 200ms of backoff from 10ms", n)
	}
}

func TestGRPCPartialSuccessCountsRejected(t *testing.T) {
	col := &grpcCollector{rejected: 1}
	addr := startGRPCCollector(t, col)
	e, _ := New(Config{Protocol: ProtocolGRPC, Endpoint: "http://" + addr, Interval: time.Hour})
	e.Export(span("a", tracing.KindServer, 200, ""))
	e.Export(span("b", tracing.KindClient, 200, ""))
	running(e)() // stop at once: the flush sends both
	if st := e.Stats(); st.Exported != 1 || st.Failed != 1 {
		t.Fatalf("stats %+v, want one exported and one rejected", st)
	}
	if n := col.calls(); n != 1 {
		t.Fatalf("%d calls; a partial success is not retried", n)
	}
}

func TestGRPCQueueCap(t *testing.T) {
	e, err := New(Config{Protocol: ProtocolGRPC, Endpoint: "http://127.0.0.1:1", QueueSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		e.Export(span("x", tracing.KindServer, 200, ""))
	}
	if st := e.Stats(); st.Dropped != 6 {
		t.Fatalf("dropped %d, want 6", st.Dropped)
	}
}

// A collector that never answers holds the shutdown only for one export
// timeout, and the spans count as failed.
func TestGRPCShutdownFlushBounded(t *testing.T) {
	col := &grpcCollector{hang: true}
	addr := startGRPCCollector(t, col)
	e, _ := New(Config{Protocol: ProtocolGRPC, Endpoint: "http://" + addr, Interval: time.Hour, Timeout: 300 * time.Millisecond})
	stop := running(e)
	for range 3 {
		e.Export(span("x", tracing.KindServer, 200, ""))
	}
	began := time.Now()
	stop()
	if d := time.Since(began); d > 3*time.Second {
		t.Fatalf("shutdown took %v with a 300ms export timeout", d)
	}
	if st := e.Stats(); st.Failed != 3 || col.calls() != 1 {
		t.Fatalf("stats %+v after %d calls; want 3 failed in one call", st, col.calls())
	}
}

// https:// checks the collector against the configured roots over TLS
// (ALPN h2); without them the handshake fails.
func TestGRPCOverTLS(t *testing.T) {
	certPEM, cert := selfSigned(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	col := &grpcCollector{}
	addr := startGRPCCollector(t, col, grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{cert}})))

	e, err := New(Config{Protocol: ProtocolGRPC, Endpoint: "https://" + addr, CACertFile: caFile, Interval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	e.Export(span("x", tracing.KindServer, 200, ""))
	running(e)()
	if st := e.Stats(); st.Exported != 1 {
		t.Fatalf("over TLS with the CA file: stats %+v", st)
	}

	// A schemeless endpoint means TLS too; the system roots refuse the
	// self-signed collector, and that is not retried.
	e, _ = New(Config{Protocol: ProtocolGRPC, Endpoint: addr, Interval: 5 * time.Millisecond, RetryBackoff: 10 * time.Millisecond})
	stop := running(e)
	e.Export(span("x", tracing.KindServer, 200, ""))
	waitFor(t, "the export failed", func() bool { return e.Stats().Failed == 1 })
	stop()
	if st := e.Stats(); st.Failed != 1 || col.calls() != 1 {
		t.Fatalf("unverified collector: stats %+v, calls %d", st, col.calls())
	}
}

func selfSigned(t *testing.T) ([]byte, tls.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "collector"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestGRPCEndpointChecked(t *testing.T) {
	for _, tt := range []struct {
		in, authority string
		insecure      bool
		secure        bool
	}{
		{"http://127.0.0.1:4317", "127.0.0.1:4317", false, false},
		{"http://127.0.0.1:4317/", "127.0.0.1:4317", false, false},
		{"https://otel.example:443", "otel.example:443", true, true},
		{"otel.example:4317", "otel.example:4317", false, true},
		{"otel.example:4317", "otel.example:4317", true, false},
		{"https://[::1]:4317", "[::1]:4317", true, true},
	} {
		a, secure, err := grpcTarget(tt.in, tt.insecure)
		if err != nil || a != tt.authority || secure != tt.secure {
			t.Errorf("grpcTarget(%q, %v) = %q, %v, %v", tt.in, tt.insecure, a, secure, err)
		}
	}
	for _, bad := range []string{"", "http://", "otel.example", "http://x:4317/v1/traces", "dns:///x:4317", "unix:///tmp/s", "x:0", "x:http", "http://u@x:1"} {
		if _, _, err := grpcTarget(bad, false); err == nil {
			t.Errorf("grpcTarget(%q) accepted", bad)
		}
	}
}

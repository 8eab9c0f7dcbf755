package proxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/retry"
)

// h2cUpstream is an HTTP/2 (prior knowledge) app on loopback.
func h2cUpstream(t *testing.T, f http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(f)
	srv.Config.Protocols = new(http.Protocols)
	srv.Config.Protocols.SetHTTP1(true)
	srv.Config.Protocols.SetUnencryptedHTTP2(true)
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

func h2Proxy(t *testing.T, rt *Runtime) string {
	t.Helper()
	return serveEngine(t, NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: rt, RequestTimeout: 5 * time.Second}))
}

func TestGRPCTimeoutRewrittenToTimeLeft(t *testing.T) {
	t.Parallel()
	const perTry = 300 * time.Millisecond
	var n atomic.Int64
	var seen atomic.Value
	app := h2cUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("Grpc-Timeout"))
		if n.Add(1) == 1 {
			<-r.Context().Done() // the first try hangs until the proxy gives up on it
			return
		}
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", "0")
	})
	rt := retryRuntimeProto(t, []string{app}, cluster.HTTP2)
	rt.Load().Routes.Lookup([]byte("x"), []byte("POST"), []byte("/"), nil, headerView{}).Retry = &retry.Policy{On: retry.GatewayError, Attempts: 1, PerTryTimeout: perTry, AnyMethod: true}
	req, _ := http.NewRequest("POST", "http://"+h2Proxy(t, rt)+"/svc/M", strings.NewReader("\x00\x00\x00\x00\x00"))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	req.Header.Set("Grpc-Timeout", "2000m")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	got, _ := seen.Load().(string)
	d, ok := grpcTimeout(got)
	if n.Load() != 2 || !ok || d > 2*time.Second-perTry || d < time.Second {
		t.Fatalf("after %d tries the app saw grpc-timeout %q, want at most 2s - %v (the time the first try used)", n.Load(), got, perTry)
	}
}

func TestHTTP2GRPCUnavailableRetriedWithBody(t *testing.T) {
	t.Parallel()
	var tries atomic.Int64
	var badBody atomic.Int64
	app := h2cUpstream(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if string(b) != "\x00\x00\x00\x00\x03abc" {
			badBody.Add(1)
		}
		w.Header().Set("Content-Type", "application/grpc")
		if tries.Add(1) < 3 {
			w.Header().Set("Grpc-Status", "14") // trailers-only UNAVAILABLE
			return
		}
		w.Header().Set("Trailer", "Grpc-Status")
		w.Write([]byte("\x00\x00\x00\x00\x00"))
		w.Header().Set("Grpc-Status", "0")
	})
	rt := retryRuntimeProto(t, []string{app}, cluster.HTTP2)
	rt.Load().Routes.Lookup([]byte("x"), []byte("POST"), []byte("/"), nil, headerView{}).Retry = &retry.Policy{On: retry.GRPCUnavailable, Attempts: 3, BackoffBase: time.Millisecond, AnyMethod: true}
	req, _ := http.NewRequest("POST", "http://"+h2Proxy(t, rt)+"/svc/M", strings.NewReader("\x00\x00\x00\x00\x03abc"))
	req.Header.Set("Content-Type", "application/grpc")
	req.Header.Set("Te", "trailers")
	resp, err := h2cClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if st := resp.Trailer.Get("Grpc-Status"); st != "0" || tries.Load() != 3 || badBody.Load() != 0 {
		t.Fatalf("grpc-status %q after %d tries (%d bodies damaged), want 0 after 3", st, tries.Load(), badBody.Load())
	}
}

// retryRuntimeProto is retryRuntime with the cluster's protocol set.
func retryRuntimeProto(t *testing.T, addrs []string, p cluster.Protocol) *Runtime {
	t.Helper()
	rt := retryRuntime(t, addrs, nil, retry.BudgetConfig{})
	st := rt.Load()
	cl := st.Clusters.Get("up")
	cfg := cl.Config
	cfg.Protocol = p
	set, err := cluster.NewSet([]cluster.Config{cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cluster.Retire(st.Clusters, set)
	rt.Store(&State{Version: "2", Routes: st.Routes, Clusters: set})
	return rt
}

package proxy

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// requestSeries polls reg until weft_requests_total sums to want, and
// returns its series' labels with their counts.
func requestSeries(t *testing.T, reg *prometheus.Registry, want float64) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []map[string]string
		var sum float64
		for _, mf := range mfs {
			if mf.GetName() != "weft_requests_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				out = append(out, seriesLabels(m))
				sum += m.GetCounter().GetValue()
			}
		}
		if sum == want {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("weft_requests_total sums to %v, want %v: %v", sum, want, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func seriesLabels(m *dto.Metric) map[string]string {
	l := map[string]string{}
	for _, p := range m.GetLabel() {
		l[p.GetName()] = p.GetValue()
	}
	return l
}

func checkLabels(t *testing.T, what string, got map[string]string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %s = %q, want %q (all: %v)", what, k, got[k], v, got)
		}
	}
}

var catalogSelf = NewSelf(telemetry.Workload{Name: "catalog", Namespace: "shop", App: "catalog", Version: "v2"},
	telemetry.Service{Host: "catalog.shop", Name: "catalog", Namespace: "shop"})

// The inbound side labels the caller from the peer header only when its
// listener trusts the downstream (no mTLS here), labels itself as the
// destination, and never passes the header to the app.
func TestInboundPeerLabels(t *testing.T) {
	for _, trust := range []bool{true, false} {
		rec := newRecorder(t)
		reg := prometheus.NewRegistry()
		addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) {
			c.Direction, c.TrustForwarded, c.Self = "inbound", trust, catalogSelf
			c.Metrics = telemetry.NewProxyMetrics(reg)
		})
		out, _ := exchange(t, addr, "POST /x HTTP/1.1\r\nHost: catalog\r\nX-Weft-Peer: workload=web;namespace=shop;app=web;version=v1;principal=spiffe://x/ns/shop/sa/web\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
		if !strings.HasPrefix(out, "HTTP/1.1 200 ") {
			t.Fatalf("trust=%v: %q", trust, out)
		}
		for _, r := range rec.requests() {
			if v := r.Header.Get(PeerHeader); v != "" {
				t.Errorf("trust=%v: the app saw %s: %q", trust, PeerHeader, v)
			}
		}
		s := requestSeries(t, reg, 1)[0]
		want := map[string]string{"reporter": "destination", "destination_workload": "catalog", "destination_service": "catalog.shop",
			"destination_version": "v2", "destination_canonical_revision": "v2", "response_code": "200", "request_protocol": "http",
			"connection_security_policy": "none", "source_principal": "unknown"}
		if trust {
			want["source_workload"], want["source_version"], want["source_workload_namespace"], want["source_app"] = "web", "v1", "shop", "web"
			want["source_canonical_service"], want["source_canonical_revision"] = "web", "v1"
		} else {
			want["source_workload"], want["source_version"] = "unknown", "unknown"
		}
		checkLabels(t, "inbound", s, want)
	}
}

// mTLS decides what the header may claim: a header naming the connected
// peer's SPIFFE ID is believed; one naming another is not (the caller is
// then what its certificate proves).
func TestInboundSourceWithPeer(t *testing.T) {
	id := "spiffe://weft.local/ns/shop/sa/web"
	w := inboundSource("workload=web;namespace=shop;version=v1;principal="+id, id, false)
	if w.Name != "web" || w.Version != "v1" || w.Principal != id {
		t.Errorf("matching principal: %+v", w)
	}
	w = inboundSource("workload=admin;namespace=kube;principal=spiffe://weft.local/ns/kube/sa/admin", id, true)
	if w.Name != "" || w.Principal != id || w.Namespace != "shop" {
		t.Errorf("a header naming another principal was believed: %+v", w)
	}
	if w := inboundSource("workload=web", "", false); w.Name != "" {
		t.Errorf("untrusted plaintext header believed: %+v", w)
	}
}

// The outbound side labels itself the source, takes the destination from
// the cluster and the picked endpoint's labels, sends its own peer header
// (never the app's) and counts body bytes.
func TestOutboundLabelsAndPeerHeader(t *testing.T) {
	rec := newRecorder(t)
	tbl, err := route.Compile(route.Config{VirtualHosts: []route.VirtualHost{{Name: "all", Domains: []string{"*"},
		Routes: []route.Route{{Name: "r", Backends: []route.Backend{{Cluster: "catalog.shop"}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	set, err := cluster.NewSet([]cluster.Config{{Name: "catalog.shop", Protocol: cluster.HTTP1,
		Endpoints: []cluster.EndpointConfig{{Address: rec.addr(), Labels: map[string]string{"version": "v2", "app": "catalog"}}}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rt := &Runtime{}
	rt.Store(&State{Version: "1", Routes: tbl, Clusters: set})
	t.Cleanup(func() { cluster.Retire(set, nil) })
	reg := prometheus.NewRegistry()
	web := NewSelf(telemetry.Workload{Name: "web", Namespace: "shop", Version: "v1"}, telemetry.Service{})
	addr, _ := startHTTP1(t, rec, func(c *HTTP1Config) {
		c.Runtime, c.Self, c.Metrics = rt, web, telemetry.NewProxyMetrics(reg)
	})
	out, _ := exchange(t, addr, "POST /x HTTP/1.1\r\nHost: catalog\r\nX-Weft-Peer: workload=evil\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n"+
		"GET /y HTTP/1.1\r\nHost: catalog\r\nConnection: close\r\n\r\n")
	if strings.Count(out, "HTTP/1.1 200 ") != 2 {
		t.Fatalf("%q", out)
	}
	reqs := rec.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests upstream", len(reqs))
	}
	for _, r := range reqs {
		if got := r.Header.Values(PeerHeader); len(got) != 1 || got[0] != web.HeaderValue() {
			t.Errorf("upstream saw %s %q, want only %q", PeerHeader, got, web.HeaderValue())
		}
	}
	s := requestSeries(t, reg, 2)
	if len(s) != 1 {
		t.Fatalf("%d series, want 1: %v", len(s), s)
	}
	checkLabels(t, "outbound", s[0], map[string]string{"reporter": "source", "source_workload": "web", "source_version": "v1",
		"source_canonical_revision": "v1", "source_app": "unknown", "destination_service": "catalog.shop", "destination_service_name": "catalog",
		"destination_service_namespace": "shop", "destination_workload": "catalog", "destination_version": "v2", "destination_app": "catalog",
		"connection_security_policy": "unknown", "response_flags": "-", "response_code": "200"})
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "weft_request_bytes":
			if got := mf.GetMetric()[0].GetHistogram().GetSampleSum(); got != 7 {
				t.Errorf("request bytes %v, want 7 (the chunked body)", got)
			}
		case "weft_response_bytes":
			if got := mf.GetMetric()[0].GetHistogram().GetSampleSum(); got != 4 {
				t.Errorf("response bytes %v, want 4 (2 bodies of 2)", got)
			}
		}
	}
}

// A gRPC status travels in trailers: NotFound is counted with
// grpc_response_status 5 beside HTTP 200, apart from OK calls.
func TestGRPCStatusLabel(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	defer srv.Stop()
	reg := prometheus.NewRegistry()
	h := NewHTTP2(HTTP2Config{Name: "t", Direction: "inbound", Runtime: newRuntime(t, ln.Addr().String(), cluster.HTTP2, 0),
		Self: catalogSelf, Metrics: telemetry.NewProxyMetrics(reg)})
	conn, err := grpc.NewClient(serveEngine(t, h), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hc := healthpb.NewHealthClient(conn)
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
		t.Fatalf("want NotFound, got %v", err)
	}
	byStatus := map[string]map[string]string{}
	for _, s := range requestSeries(t, reg, 2) {
		byStatus[s["grpc_response_status"]] = s
	}
	for _, st := range []string{"0", "5"} {
		s, ok := byStatus[st]
		if !ok {
			t.Fatalf("no series with grpc_response_status %s: %v", st, byStatus)
		}
		checkLabels(t, "grpc "+st, s, map[string]string{"request_protocol": "grpc", "response_code": "200", "reporter": "destination",
			"destination_service": "catalog.shop"})
	}
}

func FuzzParsePeerHeader(f *testing.F) {
	f.Add("workload=web;namespace=shop;app=web;version=v1;principal=spiffe://x/ns/shop/sa/web;cluster=c1")
	f.Add(";;=;a=b=c;workload")
	f.Add(strings.Repeat("workload=x;", 200))
	f.Fuzz(func(t *testing.T, v string) {
		w := ParsePeerHeader(v)
		if len(v) > maxPeerHeader && w.Name != "" {
			t.Fatalf("oversized header parsed: %+v", w)
		}
		if w.CanonicalRevision == "" {
			t.Fatal("canonical revision not defaulted")
		}
		// What NewSelf renders parses back the same.
		s := NewSelf(w, telemetry.Service{})
		if back := ParsePeerHeader(s.HeaderValue()); back != s.Workload {
			t.Fatalf("round trip: %+v -> %q -> %+v", s.Workload, s.HeaderValue(), back)
		}
	})
}

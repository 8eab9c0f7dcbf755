package meshstats

import (
	"context"
	"math"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// sidecarMetrics serves a real sidecar metrics registry on loopback.
func sidecarMetrics(t *testing.T) (*telemetry.ProxyMetrics, string) {
	reg := prometheus.NewRegistry()
	m := telemetry.NewProxyMetrics(reg)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	t.Cleanup(srv.Close)
	return m, strings.TrimPrefix(srv.URL, "http://")
}

// call records one request as a sidecar's engine would: outbound (the
// caller reports, naming the callee) or inbound (the callee reports).
func call(m *telemetry.ProxyMetrics, outbound bool, from, to string, code int, d time.Duration) {
	r := telemetry.Request{Reporter: telemetry.ReporterDestination, Code: code, GRPCStatus: -1, Duration: d, Protocol: telemetry.ProtocolHTTP}
	if outbound {
		r.Reporter = telemetry.ReporterSource
		r.Source = telemetry.Workload{Name: from, Namespace: "default"}
	}
	if to != "" {
		r.Service = telemetry.Service{Host: to + ".default.svc.cluster.local", Name: to, Namespace: "default"}
		r.Destination = telemetry.Workload{Name: to, Namespace: "default"}
	}
	m.ObserveRequest(&r)
}

func TestCollectorEdgesAndServices(t *testing.T) {
	front, frontAdmin := sidecarMetrics(t)
	cat, catAdmin := sidecarMetrics(t)
	insts := []api.Instance{
		{Service: "frontend", ID: "f1", Admin: frontAdmin},
		{Service: "catalog", ID: "c1", Admin: catAdmin, Labels: map[string]string{"version": "v1"}},
		{Service: "catalog", ID: "c2", Admin: "127.0.0.1:1", Labels: map[string]string{"version": "v2"}}, // unreachable
		{Service: "batch", ID: "b1"}, // no admin: not scraped
	}
	c := New(Config{Instances: func(context.Context) ([]api.Instance, error) { return insts, nil }, Window: time.Hour})
	ctx := context.Background()
	call(front, true, "frontend", "catalog", 200, time.Millisecond) // before the first round: not counted
	c.Scrape(ctx)
	for i := range 100 {
		code, d := 200, 8*time.Millisecond
		if i%10 == 0 {
			code, d = 503, 40*time.Millisecond
		}
		call(front, true, "frontend", "catalog", code, d)
		call(cat, false, "", "catalog", code, d)
	}
	call(front, true, "frontend", "", 404, time.Millisecond) // no destination: no edge
	c.Scrape(ctx)
	st := c.Snapshot()
	if st.Sidecars != 3 || st.Unreachable != 1 {
		t.Fatalf("sidecars %d unreachable %d, want 3 and 1", st.Sidecars, st.Unreachable)
	}
	if len(st.Edges) != 1 {
		t.Fatalf("edges %+v, want frontend->catalog only", st.Edges)
	}
	e := st.Edges[0]
	if e.Source != "frontend" || e.Destination != "catalog" || e.Requests != 100 || math.Abs(e.SuccessRate-0.9) > 1e-9 {
		t.Fatalf("edge %+v", e)
	}
	// 90 at 8 ms (bucket 5-10 ms), 10 at 40 ms (25-50 ms): p50 inside
	// 5-10 ms, p99 inside 25-50 ms.
	if e.P50Ms <= 5 || e.P50Ms > 10 || e.P99Ms <= 25 || e.P99Ms > 50 {
		t.Fatalf("edge latency p50 %.2f p99 %.2f", e.P50Ms, e.P99Ms)
	}
	var v1 *api.ServiceStats
	for i, s := range st.Services {
		if s.Service == "catalog" && s.Version == "v1" {
			v1 = &st.Services[i]
		}
	}
	if v1 == nil || v1.Requests != 100 || v1.Instances != 1 || math.Abs(v1.SuccessRate-0.9) > 1e-9 || v1.RPS <= 0 {
		t.Fatalf("catalog v1 stats %+v in %+v", v1, st.Services)
	}

	// A restarted sidecar's counters start again from zero: its new
	// totals are the increase, not a negative one.
	cat2, cat2Admin := sidecarMetrics(t)
	insts[1].Admin = cat2Admin
	for range 5 {
		call(cat2, false, "", "catalog", 200, time.Millisecond)
	}
	c.Scrape(ctx)
	for _, s := range c.Snapshot().Services {
		if s.Service == "catalog" && s.Version == "v1" && s.Requests != 105 {
			t.Fatalf("after a restart catalog v1 has %d requests, want 105", s.Requests)
		}
	}
}

func TestWindowForgetsOldRounds(t *testing.T) {
	front, admin := sidecarMetrics(t)
	insts := []api.Instance{{Service: "frontend", ID: "f1", Admin: admin}}
	c := New(Config{Instances: func(context.Context) ([]api.Instance, error) { return insts, nil }, Window: time.Minute, Interval: time.Second})
	t0 := time.Unix(1700000000, 0)
	scrapeAt := func(at time.Time) {
		s, ct, err := c.scrapeOne(context.Background(), insts[0])
		if err != nil {
			t.Fatal(err)
		}
		c.add([]scraped{{inst: insts[0], samples: s, cert: ct}}, at)
	}
	scrapeAt(t0)
	call(front, true, "frontend", "catalog", 200, time.Millisecond)
	scrapeAt(t0.Add(time.Second))
	scrapeAt(t0.Add(2 * time.Minute))
	if e := c.Snapshot().Edges; len(e) != 0 {
		t.Fatalf("a request two minutes old is still in a one-minute window: %+v", e)
	}
}

// TestParseIstioLabels reads the Istio-label form (weft_* or istio_*
// names), where the destination reports its caller too.
func TestParseIstioLabels(t *testing.T) {
	text := `# TYPE istio_requests_total counter
istio_requests_total{reporter="source",source_workload="frontend",destination_service_name="catalog",destination_service="catalog.default.svc.cluster.local",response_code="200"} 7
istio_requests_total{reporter="source",source_workload="frontend",destination_service_name="catalog",response_code="0"} 1
istio_requests_total{reporter="destination",source_workload="frontend",destination_service_name="catalog",response_code="503"} 2
# TYPE istio_request_duration_milliseconds histogram
istio_request_duration_milliseconds_bucket{reporter="source",source_workload="frontend",destination_service_name="catalog",response_code="200",le="10"} 5
istio_request_duration_milliseconds_bucket{reporter="source",source_workload="frontend",destination_service_name="catalog",response_code="200",le="+Inf"} 7
istio_request_duration_milliseconds_sum{reporter="source",source_workload="frontend",destination_service_name="catalog",response_code="200"} 30
istio_request_duration_milliseconds_count{reporter="source",source_workload="frontend",destination_service_name="catalog",response_code="200"} 7
`
	got, _, err := parse(strings.NewReader(text), "frontend")
	if err != nil {
		t.Fatal(err)
	}
	ok := got[series{source: true, from: "frontend", to: "catalog"}]
	failed := got[series{source: true, from: "frontend", to: "catalog", failed: true, code: "0"}]
	dest := got[series{from: "frontend", to: "catalog", failed: true, code: "503"}]
	if ok == nil || ok.count != 7 || failed == nil || failed.count != 1 || dest == nil || dest.count != 2 {
		t.Fatalf("series %v", got)
	}
	if len(ok.buckets) != 1 || ok.buckets[0].le != 0.01 || ok.buckets[0].count != 5 {
		t.Fatalf("buckets in seconds: %+v", ok.buckets)
	}
	if _, _, err := parse(strings.NewReader("not { metrics"), "x"); err == nil {
		t.Fatal("garbage parsed")
	}
}

func TestServiceName(t *testing.T) {
	for in, want := range map[string]string{
		"catalog": "catalog", "catalog.default": "catalog", "catalog.default.svc.cluster.local": "catalog",
		"catalog.shop": "catalog.shop", "catalog|v1": "catalog", "catalog.default/v1": "catalog", "catalog.shop/v2": "catalog.shop", "": "",
	} {
		if got := serviceName(in); got != want {
			t.Errorf("serviceName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestQuantile(t *testing.T) {
	bs := []bucket{{0.01, 50}, {0.1, 100}}
	if q := quantile(0.5, bs, 100); math.Abs(q-0.01) > 1e-12 {
		t.Fatalf("p50 %v", q)
	}
	if q := quantile(0.75, bs, 100); math.Abs(q-0.055) > 1e-12 {
		t.Fatalf("p75 %v", q)
	}
	if q := quantile(0.99, bs, 200); q != 0.1 { // half beyond the last bound
		t.Fatalf("p99 past the last bucket %v", q)
	}
}

// A caller with no sidecar scraped here (the demo's load generator, an
// ingress) still shows as an edge, from its callee's report; an edge its
// caller reports is shown from the caller's side only.
func TestEdgeFromCalleeWhenCallerUnscraped(t *testing.T) {
	front, frontAdmin := sidecarMetrics(t)
	cat, catAdmin := sidecarMetrics(t)
	insts := []api.Instance{{Service: "frontend", ID: "f1", Admin: frontAdmin}, {Service: "catalog", ID: "c1", Admin: catAdmin}}
	c := New(Config{Instances: func(context.Context) ([]api.Instance, error) { return insts, nil }, Window: time.Hour})
	ctx := context.Background()
	c.Scrape(ctx)
	inbound := func(m *telemetry.ProxyMetrics, from, to string, code int) {
		r := telemetry.Request{Reporter: telemetry.ReporterDestination, Code: code, GRPCStatus: -1, Duration: time.Millisecond, Protocol: telemetry.ProtocolHTTP,
			Source:  telemetry.Workload{Name: from, Namespace: "default"},
			Service: telemetry.Service{Host: to + ".default.svc.cluster.local", Name: to, Namespace: "default"}, Destination: telemetry.Workload{Name: to, Namespace: "default"}}
		m.ObserveRequest(&r)
	}
	for i := range 40 {
		code := 200
		if i%4 == 0 {
			code = 500
		}
		inbound(front, "loadgen", "frontend", code)
		call(front, true, "frontend", "catalog", 200, time.Millisecond)
		inbound(cat, "frontend", "catalog", 200)
	}
	c.Scrape(ctx)
	st := c.Snapshot()
	got := map[string]api.EdgeStats{}
	for _, e := range st.Edges {
		got[e.Source+">"+e.Destination] = e
	}
	if len(st.Edges) != 2 {
		t.Fatalf("edges %+v, want loadgen>frontend and frontend>catalog", st.Edges)
	}
	if e := got["loadgen>frontend"]; e.Reporter != "destination" || e.Requests != 40 || math.Abs(e.SuccessRate-0.75) > 1e-9 {
		t.Errorf("loadgen>frontend %+v, want 40 requests at 75 %% reported by the callee", e)
	}
	if e := got["frontend>catalog"]; e.Reporter != "source" || e.Requests != 40 {
		t.Errorf("frontend>catalog %+v, want the caller's report of 40", e)
	}
}

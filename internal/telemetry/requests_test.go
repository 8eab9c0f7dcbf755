package telemetry

import (
	"bytes"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	dto "github.com/prometheus/client_model/go"
)

// scrape renders reg in the Prometheus text format, the way /metrics
// serves it, and parses it back strictly.
func scrape(t *testing.T, reg *prometheus.Registry) map[string]*dto.MetricFamily {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	enc := expfmt.NewEncoder(&buf, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	out, err := p.TextToMetricFamilies(&buf)
	if err != nil {
		t.Fatalf("text format does not parse: %v\n%s", err, buf.String())
	}
	return out
}

func labelsOf(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// only returns the one series of name, failing unless there is exactly one.
func only(t *testing.T, mfs map[string]*dto.MetricFamily, name string) *dto.Metric {
	t.Helper()
	mf := mfs[name]
	if mf == nil || len(mf.GetMetric()) != 1 {
		t.Fatalf("%s: want one series, got %v", name, mf)
	}
	return mf.GetMetric()[0]
}

func inboundGRPC() *Request {
	return &Request{
		Reporter:    ReporterDestination,
		Source:      Workload{Name: "web", Namespace: "shop", Principal: "spiffe://weft.local/ns/shop/sa/web", App: "web", Version: "v1", CanonicalService: "web", CanonicalRevision: "v1", Cluster: "c1"},
		Destination: Workload{Name: "catalog", Namespace: "shop", App: "catalog", Version: "v2", CanonicalService: "catalog", CanonicalRevision: "v2"},
		Service:     Service{Host: "catalog.shop", Name: "catalog", Namespace: "shop"},
		Protocol:    ProtocolGRPC, Code: 200, GRPCStatus: 5, MTLS: true,
		Duration: 12 * time.Millisecond, RequestBytes: 300, ResponseBytes: 20,
	}
}

// Every label carries Istio's value for it.
func TestRequestLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewProxyMetrics(reg)
	m.ObserveRequest(inboundGRPC())
	m.ObserveRequest(inboundGRPC())
	mfs := scrape(t, reg)
	got := labelsOf(only(t, mfs, "weft_requests_total"))
	want := map[string]string{
		"reporter": "destination", "source_workload": "web", "source_canonical_service": "web", "source_canonical_revision": "v1",
		"source_workload_namespace": "shop", "source_principal": "spiffe://weft.local/ns/shop/sa/web", "source_app": "web",
		"source_version": "v1", "source_cluster": "c1", "destination_workload": "catalog", "destination_workload_namespace": "shop",
		"destination_principal": "unknown", "destination_app": "catalog", "destination_version": "v2", "destination_service": "catalog.shop",
		"destination_canonical_service": "catalog", "destination_canonical_revision": "v2", "destination_service_name": "catalog",
		"destination_service_namespace": "shop", "destination_cluster": "unknown", "request_protocol": "grpc", "response_code": "200",
		"grpc_response_status": "5", "response_flags": "-", "connection_security_policy": "mutual_tls",
	}
	if len(got) != len(LabelNames) {
		t.Errorf("%d labels, want Istio's %d: %v", len(got), len(LabelNames), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if c := only(t, mfs, "weft_requests_total").GetCounter().GetValue(); c != 2 {
		t.Errorf("requests_total %v, want 2", c)
	}
	h := only(t, mfs, "weft_request_duration_milliseconds").GetHistogram()
	if h.GetSampleCount() != 2 || h.GetSampleSum() < 23.99 || h.GetSampleSum() > 24.01 {
		t.Errorf("duration count %d sum %v, want 2 and 24 ms", h.GetSampleCount(), h.GetSampleSum())
	}
	for _, b := range h.GetBucket() {
		want := uint64(0)
		if b.GetUpperBound() >= 25 {
			want = 2 // 12 ms falls in the 25 ms bucket
		}
		if b.GetCumulativeCount() != want {
			t.Errorf("duration bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
		}
	}
	if s := only(t, mfs, "weft_request_bytes").GetHistogram().GetSampleSum(); s != 600 {
		t.Errorf("request_bytes sum %v, want 600", s)
	}
	if s := only(t, mfs, "weft_response_bytes").GetHistogram().GetSampleSum(); s != 40 {
		t.Errorf("response_bytes sum %v, want 40", s)
	}
}

// Unknown fields read "unknown"; the caller's side says nothing of the
// callee's security policy; plain HTTP has no gRPC status; a mesh-made
// answer carries its flag.
func TestRequestLabelDefaults(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewProxyMetrics(reg)
	m.ObserveRequest(&Request{Reporter: ReporterSource, Code: 503, GRPCStatus: -1, Flag: FlagNoHealthyUpstream})
	got := labelsOf(only(t, scrape(t, reg), "weft_requests_total"))
	for k, v := range map[string]string{"reporter": "source", "source_workload": "unknown", "destination_service": "unknown",
		"request_protocol": "http", "response_code": "503", "grpc_response_status": "", "response_flags": "UH",
		"connection_security_policy": "unknown"} {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	in := &Request{Reporter: ReporterDestination, Code: 200, GRPCStatus: -1}
	reg = prometheus.NewRegistry()
	NewProxyMetrics(reg).ObserveRequest(in)
	if p := labelsOf(only(t, scrape(t, reg), "weft_requests_total"))["connection_security_policy"]; p != "none" {
		t.Errorf("plaintext inbound policy %q, want none", p)
	}
}

// names: istio emits Istio's exact metric names.
func TestIstioNames(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewProxyMetricsWith(reg, MetricsOptions{Names: "istio"})
	m.ObserveRequest(inboundGRPC())
	tcp := m.TCPOpened(&Conn{Reporter: ReporterDestination})
	tcp.Bytes(10, 20)
	tcp.Closed()
	mfs := scrape(t, reg)
	for _, n := range []string{"istio_requests_total", "istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes",
		"istio_tcp_sent_bytes_total", "istio_tcp_received_bytes_total", "istio_tcp_connections_opened_total", "istio_tcp_connections_closed_total"} {
		if mfs[n] == nil {
			t.Errorf("no %s", n)
		}
	}
	for n := range mfs {
		if strings.HasPrefix(n, "weft_request") || strings.HasPrefix(n, "weft_tcp") {
			t.Errorf("%s emitted with names: istio", n)
		}
	}
	if v := only(t, mfs, "istio_tcp_sent_bytes_total").GetCounter().GetValue(); v != 10 {
		t.Errorf("tcp sent %v, want 10", v)
	}
	if v := only(t, mfs, "istio_tcp_received_bytes_total").GetCounter().GetValue(); v != 20 {
		t.Errorf("tcp received %v, want 20", v)
	}
	tl := labelsOf(only(t, mfs, "istio_tcp_connections_opened_total"))
	if _, ok := tl["response_code"]; ok || tl["request_protocol"] != "tcp" {
		t.Errorf("tcp labels %v: want request_protocol tcp and no response_code", tl)
	}
}

// A dropped label disappears, and series that differed only in it merge.
func TestDropLabels(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewProxyMetricsWith(reg, MetricsOptions{DropLabels: []string{"source_principal", "source_version"}})
	a, b := inboundGRPC(), inboundGRPC()
	b.Source.Principal, b.Source.Version = "spiffe://weft.local/ns/shop/sa/other", "v9"
	m.ObserveRequest(a)
	m.ObserveRequest(b)
	s := only(t, scrape(t, reg), "weft_requests_total")
	l := labelsOf(s)
	if _, ok := l["source_principal"]; ok {
		t.Error("source_principal still exposed")
	}
	if _, ok := l["source_version"]; ok {
		t.Error("source_version still exposed")
	}
	if len(l) != len(LabelNames)-2 || s.GetCounter().GetValue() != 2 {
		t.Errorf("labels %d value %v, want %d and 2", len(l), s.GetCounter().GetValue(), len(LabelNames)-2)
	}
}

// Configured buckets replace Istio's.
func TestBuckets(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewProxyMetricsWith(reg, MetricsOptions{DurationBuckets: []float64{5, 50}, BytesBuckets: []float64{100}})
	r := inboundGRPC()
	m.ObserveRequest(r)
	r.Duration = time.Second // past every bound: +Inf only
	m.ObserveRequest(r)
	mfs := scrape(t, reg)
	var got []uint64
	for _, b := range only(t, mfs, "weft_request_duration_milliseconds").GetHistogram().GetBucket() {
		got = append(got, b.GetCumulativeCount())
	}
	if len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
		t.Errorf("duration buckets %v, want [0 1 2] (5, 50, +Inf)", got)
	}
	if n := len(only(t, mfs, "weft_request_bytes").GetHistogram().GetBucket()); n != 2 {
		t.Errorf("%d bytes buckets, want 2 (100, +Inf)", n)
	}
}

// Past the series cap new tuples are counted as dropped, old ones still
// count.
func TestSeriesCap(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewProxyMetricsWith(reg, MetricsOptions{MaxSeries: 3})
	r := inboundGRPC()
	for code := 200; code < 210; code++ {
		r.Code = code
		m.ObserveRequest(r)
	}
	r.Code = 200
	m.ObserveRequest(r)
	m.TCPOpened(&Conn{}).Bytes(1, 1) // a fourth series: dropped, and a nil handle is safe
	mfs := scrape(t, reg)
	if n := len(mfs["weft_requests_total"].GetMetric()); n != 3 {
		t.Errorf("%d series, want the cap of 3", n)
	}
	if d := only(t, mfs, "weft_metrics_series_dropped_total").GetCounter().GetValue(); d != 8 {
		t.Errorf("dropped %v, want 8 (7 requests and 1 connection)", d)
	}
	for _, s := range mfs["weft_requests_total"].GetMetric() {
		if labelsOf(s)["response_code"] == "200" && s.GetCounter().GetValue() != 2 {
			t.Errorf("the 200 series counts %v, want 2", s.GetCounter().GetValue())
		}
	}
}

func TestMetricsOptionsValidate(t *testing.T) {
	for _, tc := range []struct {
		o    MetricsOptions
		want string
	}{
		{MetricsOptions{Names: "prom"}, "metrics.names"},
		{MetricsOptions{DropLabels: []string{"source_pod"}}, "metrics.dropLabels[0]"},
		{MetricsOptions{DropLabels: []string{"reporter"}}, "reporter cannot be dropped"},
		{MetricsOptions{DurationBuckets: []float64{5, 5}}, "metrics.durationBuckets: [1]"},
		{MetricsOptions{BytesBuckets: []float64{-1}}, "metrics.bytesBuckets: [0]"},
		{MetricsOptions{MaxSeries: -1}, "metrics.maxSeries"},
		{MetricsOptions{Names: "istio", DropLabels: []string{"source_principal"}, DurationBuckets: []float64{1, 2}, MaxSeries: 5}, ""},
	} {
		err := tc.o.Validate("metrics")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.o, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one naming %q", tc.o, err, tc.want)
		}
	}
}

// Recording into an existing series allocates nothing.
func TestObserveRequestAllocs(t *testing.T) {
	m := NewProxyMetricsWith(prometheus.NewRegistry(), MetricsOptions{DropLabels: []string{"source_principal"}})
	r := inboundGRPC()
	m.ObserveRequest(r)
	if n := testing.AllocsPerRun(1000, func() { m.ObserveRequest(r) }); n != 0 {
		t.Errorf("%v allocs per request, want 0", n)
	}
}

// BenchmarkObserveRequest is one HTTP/1.1 connection's steady state: the
// same labels as its last request. cpu-ns/op is the process's CPU time
// per call, which a loaded machine inflates less than ns/op.
func BenchmarkObserveRequest(b *testing.B) {
	m := NewProxyMetrics(prometheus.NewRegistry())
	r := inboundGRPC()
	b.ReportAllocs()
	cpu := cpuNow()
	for b.Loop() {
		m.ObserveRequest(r)
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N), "cpu-ns/op")
}

func cpuNow() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return syscall.TimevalToNsec(ru.Utime) + syscall.TimevalToNsec(ru.Stime)
}

// BenchmarkObserveRequestNew is a record whose labels change every time,
// so each lookup hashes the label tuple (HTTP/2's per-request records).
func BenchmarkObserveRequestNew(b *testing.B) {
	m := NewProxyMetrics(prometheus.NewRegistry())
	r := inboundGRPC()
	b.ReportAllocs()
	cpu := cpuNow()
	for b.Loop() {
		c := *r
		m.ObserveRequest(&c)
	}
	b.ReportMetric(float64(cpuNow()-cpu)/float64(b.N), "cpu-ns/op")
}

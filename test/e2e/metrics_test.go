package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	dto "github.com/prometheus/client_model/go"
)

const metricsMesh = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec: {ports: [{port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: hello}
spec: {ports: [{port: 80}]}
---
apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: store}
spec: {ports: [{port: 80, protocol: tcp}]}
`

// httpApp serves HTTP/1.1 and h2c, reads the request body and answers
// "catalog-ok" (10 bytes).
func httpApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	srv := &http.Server{Protocols: &p, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "catalog-ok")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// tcpEcho echoes every connection.
func tcpEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// scrapeMetrics reads a sidecar's /metrics and parses it strictly.
func scrapeMetrics(t *testing.T, admin string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("%s/metrics does not parse: %v", admin, err)
	}
	return mfs
}

// sumWhere sums the samples of name whose labels include want (a counter's
// or gauge's value; a histogram's count).
func sumWhere(mfs map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	var sum float64
	for _, m := range mfs[name].GetMetric() {
		l := map[string]string{}
		for _, p := range m.GetLabel() {
			l[p.GetName()] = p.GetValue()
		}
		match := true
		for k, v := range want {
			if l[k] != v {
				match = false
				break
			}
		}
		if !match {
			continue
		}
		switch {
		case m.GetHistogram() != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.GetGauge() != nil:
			sum += m.GetGauge().GetValue()
		default:
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestMetricsBothReporters: HTTP/1.1, h2c and gRPC calls (OK and
// NotFound) and TCP connections go from a caller sidecar through the
// control plane to callee sidecars; both reporters' series carry Istio's
// labels and count exactly what the client sent. One callee emits Istio's
// names.
func TestMetricsBothReporters(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if out, ok := weft(t, c.api, metricsMesh, "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cpYAML := fmt.Sprintf("controlPlane: {xds: [%s], api: [%s], cacheDir: %s}\n", c.xds, c.api, t.TempDir())
	callee := func(service, proto, app, extra string) string {
		admin := freePort(t)
		startSidecar(t, service+"-v1", admin, fmt.Sprintf(`node: %s-v1
service: %s
admin: %s
inbound: [{name: in, listen: %s, app: %s, protocol: %s, trustForwardedHeaders: true}]
register: {labels: {version: v1}, probe: {interval: 200ms}}
limits: {drainTimeout: 1s}
%s`, service, service, admin, freePort(t), app, proto, extra)+cpYAML)
		return admin
	}
	catalogAdmin := callee("catalog", "auto", httpApp(t), "")
	helloAdmin := callee("hello", "auto", grpcBackend(t, "v1"), "metrics: {names: istio}\n")
	storeAdmin := callee("store", "tcp", tcpEcho(t), "")
	frontAdmin, catalogPort, helloPort, storePort := freePort(t), freePort(t), freePort(t), freePort(t)
	startSidecar(t, "frontend", frontAdmin, fmt.Sprintf(`node: frontend-1
service: frontend
admin: %s
outbound: {ports: [{listen: %s, service: catalog}, {listen: %s, service: hello}, {listen: %s, service: store}]}
limits: {drainTimeout: 1s}
`, frontAdmin, catalogPort, helloPort, storePort)+cpYAML)
	for _, svc := range []string{"catalog", "hello", "store"} {
		eventually(t, 20*time.Second, svc+"'s endpoint at the frontend", func() bool {
			return strings.Contains(clusterNames(t, frontAdmin), svc)
		})
	}

	// HTTP/1.1: wait for the first success (the mesh converging), then
	// count from a fresh baseline.
	h1 := &http.Client{Timeout: 5 * time.Second}
	eventually(t, 20*time.Second, "HTTP/1.1 through both sidecars", func() bool { return httpOK(h1, "http://"+catalogPort+"/warm") })
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	h2 := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Protocols: &p}}
	eventually(t, 20*time.Second, "h2c through both sidecars", func() bool { return httpOK(h2, "http://"+catalogPort+"/warm") })
	conn, err := grpc.NewClient("passthrough:///"+helloPort, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)
	eventually(t, 20*time.Second, "gRPC through both sidecars", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "catalog"})
		return err == nil
	})
	baseline := map[string]map[string]*dto.MetricFamily{}
	for _, a := range []string{frontAdmin, catalogAdmin, helloAdmin, storeAdmin} {
		baseline[a] = scrapeMetrics(t, a)
	}

	const nH1, nH2, nOK, nNotFound, nTCP, tcpBytes = 7, 5, 4, 3, 2, 100
	body := strings.Repeat("b", 50)
	for i := 0; i < nH1; i++ {
		resp, err := h1.Post("http://"+catalogPort+"/h1", "text/plain", strings.NewReader(body))
		if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 1 {
			t.Fatalf("HTTP/1.1 call %d: %v %v", i, resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	for i := 0; i < nH2; i++ {
		resp, err := h2.Get("http://" + catalogPort + "/h2")
		if err != nil || resp.StatusCode != 200 || resp.ProtoMajor != 2 {
			t.Fatalf("h2c call %d: %v %v", i, resp, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < nOK; i++ {
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "catalog"}); err != nil {
			t.Fatalf("gRPC OK call %d: %v", i, err)
		}
	}
	for i := 0; i < nNotFound; i++ {
		if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
			t.Fatalf("gRPC NotFound call %d: %v", i, err)
		}
	}
	for i := 0; i < nTCP; i++ {
		tc, err := net.DialTimeout("tcp", storePort, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		msg := strings.Repeat("t", tcpBytes)
		if _, err := io.WriteString(tc, msg); err != nil {
			t.Fatal(err)
		}
		tc.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(tc)
		tc.Close()
		if err != nil || string(got) != msg {
			t.Fatalf("tcp echo %d: %q %v", i, got, err)
		}
	}

	src := map[string]string{"source_workload": "frontend", "source_workload_namespace": "default", "source_app": "frontend",
		"source_version": "unknown", "source_canonical_service": "frontend", "source_canonical_revision": "latest"}
	with := func(base map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range base {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	dst := func(service string) map[string]string {
		return with(src, "destination_service", service+".default", "destination_service_name", service,
			"destination_service_namespace", "default", "destination_workload", service, "destination_version", "v1",
			"destination_app", service, "destination_canonical_revision", "v1")
	}
	type want struct {
		admin, name string
		labels      map[string]string
		n           float64
	}
	httpOKLabels := with(dst("catalog"), "request_protocol", "http", "response_code", "200", "response_flags", "-", "grpc_response_status", "")
	grpcLabels := func(st string) map[string]string {
		return with(dst("hello"), "request_protocol", "grpc", "response_code", "200", "grpc_response_status", st, "response_flags", "-")
	}
	tcpLabels := with(dst("store"), "request_protocol", "tcp")
	wants := []want{
		{frontAdmin, "weft_requests_total", with(httpOKLabels, "reporter", "source", "connection_security_policy", "unknown"), nH1 + nH2},
		// Security is on: sidecars with identities talk mTLS, which the
		// destination reports.
		{catalogAdmin, "weft_requests_total", with(httpOKLabels, "reporter", "destination", "connection_security_policy", "mutual_tls",
			"source_principal", "spiffe://weft.local/ns/default/sa/frontend"), nH1 + nH2},
		{frontAdmin, "weft_request_duration_milliseconds", with(httpOKLabels, "reporter", "source"), nH1 + nH2},
		{catalogAdmin, "weft_request_bytes", with(httpOKLabels, "reporter", "destination"), nH1 + nH2},
		{frontAdmin, "weft_requests_total", with(grpcLabels("0"), "reporter", "source"), nOK},
		{frontAdmin, "weft_requests_total", with(grpcLabels("5"), "reporter", "source"), nNotFound},
		{helloAdmin, "istio_requests_total", with(grpcLabels("0"), "reporter", "destination"), nOK},
		{helloAdmin, "istio_requests_total", with(grpcLabels("5"), "reporter", "destination"), nNotFound},
		{frontAdmin, "weft_tcp_connections_opened_total", with(tcpLabels, "reporter", "source"), nTCP},
		{frontAdmin, "weft_tcp_connections_closed_total", with(tcpLabels, "reporter", "source"), nTCP},
		{frontAdmin, "weft_tcp_sent_bytes_total", with(tcpLabels, "reporter", "source"), nTCP * tcpBytes},
		{frontAdmin, "weft_tcp_received_bytes_total", with(tcpLabels, "reporter", "source"), nTCP * tcpBytes},
		// A byte stream carries no peer header: the callee knows its caller
		// by the mTLS identity alone.
		{storeAdmin, "weft_tcp_connections_closed_total", map[string]string{"reporter": "destination", "source_workload": "unknown",
			"source_principal":    "spiffe://weft.local/ns/default/sa/frontend",
			"destination_service": "store.default", "destination_version": "v1", "connection_security_policy": "mutual_tls"}, nTCP},
		{storeAdmin, "weft_tcp_sent_bytes_total", map[string]string{"reporter": "destination", "destination_service": "store.default"}, nTCP * tcpBytes},
	}
	// Requests are recorded after their responses: poll until every count
	// is reached, then require it exactly.
	delta := func(w want) float64 {
		return sumWhere(scrapeMetrics(t, w.admin), w.name, w.labels) - sumWhere(baseline[w.admin], w.name, w.labels)
	}
	var short string
	t.Cleanup(func() {
		if t.Failed() && short != "" {
			t.Logf("still short: %s", short)
		}
	})
	eventually(t, 10*time.Second, "every expected count", func() bool {
		for _, w := range wants {
			if d := delta(w); d < w.n {
				short = fmt.Sprintf("%s %s%v: %v of %v", w.admin, w.name, w.labels, d, w.n)
				return false
			}
		}
		return true
	})
	for _, w := range wants {
		if got := delta(w); got != w.n {
			t.Errorf("%s %s%v: %v, want %v", w.admin, w.name, w.labels, got, w.n)
		}
	}
	// The request size histogram summed what the client sent.
	sizeLabels := with(httpOKLabels, "reporter", "destination")
	sum := func(mfs map[string]*dto.MetricFamily) float64 {
		var s float64
		for _, m := range mfs["weft_request_bytes"].GetMetric() {
			ok := true
			for _, l := range m.GetLabel() {
				if v, in := sizeLabels[l.GetName()]; in && v != l.GetValue() {
					ok = false
				}
			}
			if ok {
				s += m.GetHistogram().GetSampleSum()
			}
		}
		return s
	}
	if got := sum(scrapeMetrics(t, catalogAdmin)) - sum(baseline[catalogAdmin]); got != nH1*float64(len(body)) {
		t.Errorf("request bytes at the callee: %v, want %d", got, nH1*len(body))
	}
	// names: istio renames every request metric and leaves no weft_ one.
	hello := scrapeMetrics(t, helloAdmin)
	for n := range hello {
		if strings.HasPrefix(n, "weft_request") || strings.HasPrefix(n, "weft_tcp") {
			t.Errorf("%s at a sidecar with names: istio", n)
		}
	}
	if hello["istio_request_duration_milliseconds"] == nil {
		t.Error("no istio_request_duration_milliseconds")
	}
	// Proxy internals: the frontend's xDS stream is up and applied a version.
	front := scrapeMetrics(t, frontAdmin)
	if sumWhere(front, "weft_xds_connected", nil) != 1 || len(front["weft_xds_config_info"].GetMetric()) != 1 ||
		sumWhere(front, "weft_xds_last_update_timestamp_seconds", nil) == 0 {
		t.Errorf("xDS metrics: connected %v, info %v", sumWhere(front, "weft_xds_connected", nil), front["weft_xds_config_info"])
	}
}

package proxy

import (
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/fault"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// A request the mesh answers on the route before picking a cluster (here
// a fault abort) still counts on its edge: destination_service is the
// route's service (a subset's cluster without the subset), its version
// unknown, as Istio labels it. Before, it was destination_service
// "unknown", so PromQL per edge missed every abort.
func TestMeshAnswerLabelsTheRouteService(t *testing.T) {
	up, _ := hitCountingUpstream(t)
	for _, engine := range []string{"http1", "http2"} {
		t.Run(engine, func(t *testing.T) {
			rt := filteredRuntime(t, up, cluster.HTTP1, func(r *route.Route) {
				r.Backends = []route.Backend{{Cluster: "catalog.shop/v2"}}
				r.Fault = &fault.Config{AbortHTTP: 503, AbortShare: 1_000_000}
			})
			reg := prometheus.NewRegistry()
			m := telemetry.NewProxyMetrics(reg)
			self := NewSelf(telemetry.Workload{Name: "web", Namespace: "shop"}, telemetry.Service{Host: "web.shop", Name: "web", Namespace: "shop"})
			c := &http.Client{}
			var addr string
			if engine == "http1" {
				addr = serveEngine(t, NewHTTP1(HTTP1Config{Name: "t", Direction: "outbound", Runtime: rt, Metrics: m, Self: self}))
			} else {
				addr = serveEngine(t, NewHTTP2(HTTP2Config{Name: "t", Direction: "outbound", Runtime: rt, Metrics: m, Self: self}))
				c = h2cClient()
			}
			resp, err := c.Get("http://" + addr + "/items")
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 503 || resp.Header.Get(flagHeader) != "FI" {
				t.Fatalf("status %d flags %q, want 503 FI", resp.StatusCode, resp.Header.Get(flagHeader))
			}
			s := requestSeries(t, reg, 1)
			checkLabels(t, engine+" fault abort", s[0], map[string]string{
				"reporter": "source", "source_workload": "web", "response_code": "503", "response_flags": "FI",
				"destination_service": "catalog.shop", "destination_service_name": "catalog",
				"destination_service_namespace": "shop", "destination_version": "unknown",
			})
		})
	}
}

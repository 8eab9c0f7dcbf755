package proxy

import (
	"net/http"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// overflow answers a request a circuit breaker refused: 503 with the UO
// flag at once, never queued.
func (hc *h1conn) overflow(cl *cluster.Cluster, rt *route.Route, kind breaker.Kind, start time.Time) bool {
	hc.h.cfg.Metrics.Overflow(cl.Config.Name, kind.String())
	return hc.reject(telemetry.FlagUpstreamOverflow, http.StatusServiceUnavailable, "circuit breaker open: too many "+kind.String(), nil, cl.Config.Name, rt.Name, start)
}

// overflow answers an HTTP/2 request a circuit breaker refused.
func (h *HTTP2) overflow(w http.ResponseWriter, r *http.Request, grpc bool, cl *cluster.Cluster, rt *route.Route, kind breaker.Kind, start time.Time) {
	h.cfg.Metrics.Overflow(cl.Config.Name, kind.String())
	h.fail(w, r, grpc, telemetry.FlagUpstreamOverflow, http.StatusServiceUnavailable, "circuit breaker open: too many "+kind.String(), nil, cl.Config.Name, rt.Name, start)
}

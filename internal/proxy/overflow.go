package proxy

import (
	"net/http"
	"strconv"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
)

// responseFlagsHeader carries the flag of a response the mesh made itself
// (Envoy's response-flag vocabulary).
const responseFlagsHeader = "x-weft-response-flags"

// flagOverflow is Envoy's UO: upstream overflow, a circuit breaker refused
// the request.
const flagOverflow = "UO"

// overflow answers a request a circuit breaker refused: 503 at once, never
// queued.
func (hc *h1conn) overflow(cl *cluster.Cluster, rt *route.Route, kind breaker.Kind, start time.Time) bool {
	hc.h.cfg.Metrics.Overflow(cl.Config.Name, kind.String())
	closeConn := hc.req.HasBody()
	hc.writeFlagged(503, flagOverflow, closeConn)
	hc.h.cfg.Metrics.ObserveRequest(hc.h.cfg.Direction, cl.Config.Name, rt.Name, 503, time.Since(start))
	if closeConn {
		hc.lingerClose() // the unread body would turn the close into a reset
	}
	return !closeConn && !hc.req.Close && !hc.h.draining.Load()
}

// writeFlagged writes a mesh-made error response carrying flag.
func (hc *h1conn) writeFlagged(code int, flag string, closeConn bool) {
	w := hc.bw
	text := statusText(code)
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(code))
	w.WriteByte(' ')
	w.WriteString(text)
	w.WriteString("\r\n" + responseFlagsHeader + ": ")
	w.WriteString(flag)
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ")
	w.WriteString(strconv.Itoa(len(text) + 1))
	w.WriteString("\r\n")
	if closeConn || hc.req.Close || hc.h.draining.Load() {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	w.WriteString(text)
	w.WriteString("\n")
	w.Flush()
}

// overflow answers an HTTP/2 request a circuit breaker refused.
func (h *HTTP2) overflow(w http.ResponseWriter, grpc bool, cl *cluster.Cluster, rt *route.Route, kind breaker.Kind, start time.Time) {
	h.cfg.Metrics.Overflow(cl.Config.Name, kind.String())
	w.Header().Set(responseFlagsHeader, flagOverflow)
	h.fail(w, grpc, http.StatusServiceUnavailable, "upstream overflow ("+kind.String()+")", cl.Config.Name, rt.Name, start)
}

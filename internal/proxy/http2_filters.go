package proxy

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/ratelimit"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// grpcUnavailable is the gRPC status of a rate-limited call, as Envoy's
// local rate limit gives (its 429 maps to UNAVAILABLE).
const grpcUnavailable = 14

// filter runs rt's filters on one stream (see h1conn.filter) and reports
// whether it answered the stream.
func (h *HTTP2) filter(w http.ResponseWriter, r *http.Request, grpc bool, rt *route.Route, start time.Time) bool {
	if b := rt.Bucket(); b != nil {
		if ok, wait := b.Allow(ratelimit.Now(start)); !ok {
			w.Header().Set("Retry-After", strconv.FormatInt(ratelimit.RetryAfter(wait), 10))
			h.meshAnswer(w, r, grpc, http.StatusTooManyRequests, grpcUnavailable, telemetry.FlagRateLimited, false, "rate limited", rt, start)
			return true
		}
	}
	f := rt.Fault
	if f == nil {
		return false
	}
	d := f.Decide(rand.Uint64())
	if d.Delay > 0 {
		timeout := rt.Timeout
		if timeout <= 0 {
			timeout = h.cfg.RequestTimeout
		}
		if g, ok := grpcTimeout(r.Header.Get("Grpc-Timeout")); ok && g < timeout {
			timeout = g
		}
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		t := time.NewTimer(d.Delay)
		waited := false
		select {
		case <-t.C:
			waited = true
		case <-ctx.Done():
		}
		t.Stop()
		cancel()
		if r.Context().Err() != nil {
			return true // the client went away
		}
		if !waited {
			h.fail(w, r, grpc, telemetry.FlagDelayInjected, http.StatusGatewayTimeout, "request timeout during injected delay", nil, "", rt.Name, start)
			return true
		}
		// The upstream's response will carry the flag too: copyResponse
		// adds its headers to these.
		w.Header().Set(flagHeader, telemetry.FlagDelayInjected.String())
	}
	if d.Abort {
		h.meshAnswer(w, r, grpc, f.Status(), f.AbortGRPC, telemetry.FlagFaultInjected, d.Delay > 0, "fault injected", rt, start)
		return true
	}
	return false
}

// meshAnswer answers a stream the mesh refused or aborted, with its
// response flag: a gRPC call gets grpcCode (or the one HTTP code maps to
// when 0) in a trailers-only response, anything else the HTTP status.
func (h *HTTP2) meshAnswer(w http.ResponseWriter, r *http.Request, grpc bool, code, grpcCode int, f telemetry.Flag, delayed bool, msg string, rt *route.Route, start time.Time) {
	w.Header().Set(flagHeader, flagsValue(f, delayed))
	if grpc && grpcCode != 0 {
		w.Header().Set("Content-Type", "application/grpc")
		w.Header().Set("Grpc-Status", strconv.Itoa(grpcCode))
		w.Header().Set("Grpc-Message", msg)
		w.WriteHeader(http.StatusOK)
		rec := h.newRec(r, grpc, routeService(rt), nil)
		rec.GRPCStatus = grpcCode
		h.observe(&rec, http.StatusOK, f, start)
		h.finishTrace(r, &rec, code, f, "", start)
		return
	}
	h.fail(w, r, grpc, f, code, msg, nil, routeService(rt), rt.Name, start)
}

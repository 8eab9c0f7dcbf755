package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

// ErrBusy: a cap on concurrent work is reached (503); the caller may
// retry later.
var ErrBusy = errBusy

// tapWriteTimeout bounds one write to a tap client: one that stops
// reading loses its stream rather than holding the control plane's.
const tapWriteTimeout = 10 * time.Second

// tap streams live request metadata from a service's sidecars as NDJSON
// (api.TapLine per line) until the query's duration or max, or until
// the client goes away.
func (h *handler) tap(w http.ResponseWriter, r *http.Request) {
	q, err := tapQuery(r.URL.Query())
	if err != nil {
		h.fail(w, err)
		return
	}
	rc := http.NewResponseController(w)
	// The request is read; the server's read timeout must not end the
	// stream (a read error cancels the request's context).
	rc.SetReadDeadline(time.Time{})
	enc := json.NewEncoder(w)
	started := false
	emit := func(l api.TapLine) error {
		if !started {
			w.Header().Set("Content-Type", "application/x-ndjson")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			started = true
		}
		rc.SetWriteDeadline(time.Now().Add(tapWriteTimeout))
		if err := enc.Encode(l); err != nil {
			return err
		}
		return rc.Flush()
	}
	err = h.b.Tap(r.Context(), q, emit)
	switch {
	case err != nil && !started:
		h.fail(w, err)
	case err != nil && r.Context().Err() == nil:
		h.log.Warn("tap ended", "service", q.Service, "err", err)
		emit(api.TapLine{Error: err.Error()})
	}
}

// tapQuery reads GET /v1/tap's parameters; an error names the parameter.
func tapQuery(v url.Values) (api.TapQuery, error) {
	var q api.TapQuery
	for k, vs := range v {
		switch k {
		case "service", "direction", "path", "method", "status", "rate", "max", "duration":
		default:
			return q, fmt.Errorf("%w: tap parameter %q: unknown (known: service, direction, path, method, status, rate, max, duration)", ErrInvalid, k)
		}
		if len(vs) > 1 {
			return q, fmt.Errorf("%w: tap parameter %q: given %d times, want once", ErrInvalid, k, len(vs))
		}
	}
	q.Service, q.Direction, q.Path, q.Method, q.Status = v.Get("service"), v.Get("direction"), v.Get("path"), v.Get("method"), v.Get("status")
	if q.Service == "" {
		return q, fmt.Errorf("%w: tap parameter service: required", ErrInvalid)
	}
	for _, p := range []struct {
		name string
		to   *int
	}{{"rate", &q.Rate}, {"max", &q.Max}} {
		if s := v.Get(p.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				return q, fmt.Errorf("%w: tap parameter %s %q: want a whole number, 0 or more", ErrInvalid, p.name, s)
			}
			*p.to = n
		}
	}
	if s := v.Get("duration"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return q, fmt.Errorf("%w: tap parameter duration %q: want a Go duration such as 30s", ErrInvalid, s)
		}
		q.Duration = d
	}
	return q, nil
}

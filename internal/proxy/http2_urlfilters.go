package proxy

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/mirror"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// redirect answers with the route's redirect; see h1conn.redirect.
func (h *HTTP2) redirect(w http.ResponseWriter, r *http.Request, rt *route.Route, path, query []byte, start time.Time) {
	code := rt.Redirect.Code
	hdr := w.Header()
	hdr.Set("Location", string(rt.AppendLocation(nil, []byte(r.Host), path, query)))
	hdr.Set("Content-Length", "0")
	h2ApplyMods(hdr, rt.ResponseHeaders)
	w.WriteHeader(code)
	rec := h.newRec(r, isGRPC(r.Header), "", nil)
	h.observe(&rec, code, telemetry.FlagNone, start)
	h.finishTrace(r, &rec, code, telemetry.FlagNone, "", start)
}

// mirrorRequest sends the route's copies of r; see h1conn.mirror. A body
// of known length up to mirror.BodyCap is read here and handed to the
// primary from memory; a longer or streamed body is not mirrored.
func (h *HTTP2) mirrorRequest(st *State, rt *route.Route, r *http.Request, path, query []byte) {
	s := h.mirror
	var picked [route.MaxMirrors]bool
	some := false
	for i := range rt.Mirrors {
		if picked[i] = rt.Mirrors[i].Mirrored(rand.Uint64()); picked[i] {
			some = true
		}
	}
	if !some {
		return
	}
	var body []byte
	switch n := r.ContentLength; {
	case n < 0 || n > mirror.BodyCap:
		for range rt.Mirrors {
			s.Drop()
		}
		return
	case n > 0:
		body = make([]byte, n)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			s.Drop()
			r.Body = io.NopCloser(&errReader{err}) // the primary meets the same error
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	target := string(path)
	if len(query) > 0 {
		target += "?" + string(query)
	}
	hdr := make(http.Header, len(r.Header))
	for k, vs := range r.Header {
		hdr[k] = vs
	}
	h2RemoveHop(hdr)
	h2StripInternal(hdr, true, false)
	hdr.Del("Content-Length")
	h2ApplyMods(hdr, rt.RequestHeaders)
	for i := range rt.Mirrors {
		if !picked[i] {
			continue
		}
		m := &rt.Mirrors[i]
		cl := st.Clusters.Get(m.Cluster)
		if cl == nil {
			s.Drop()
			continue
		}
		host := r.Host
		if !m.KeepHost {
			host = mirror.ShadowHost(host)
		}
		s.Send(cl, &mirror.Request{Method: r.Method, Host: host, Target: target, Header: hdr.Clone(), Body: body})
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

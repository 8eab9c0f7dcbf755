package proxy

import (
	"net/http"
	"net/textproto"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/mirror"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// redirect answers the request with the route's redirect (Gateway API's
// RequestRedirect): no upstream is contacted. The answer is the mesh's
// but no failure, so it carries no response flag (Envoy sets none); its
// body is empty. The route's response header edits apply, as Envoy's do.
func (hc *h1conn) redirect(rt *route.Route, query []byte, start time.Time) bool {
	code := rt.Redirect.Code
	closeConn := hc.req.HasBody() || hc.req.Close || hc.h.draining.Load()
	w := hc.bw
	w.WriteString("HTTP/1.1 ")
	writeStatusCode(w, code)
	w.WriteByte(' ')
	w.WriteString(redirectText(code))
	w.WriteString("\r\nLocation: ")
	hc.scratch = rt.AppendLocation(hc.scratch[:0], hc.req.Authority, hc.pathBuf, query)
	w.Write(hc.scratch)
	w.WriteString("\r\nContent-Length: 0\r\n")
	writeModHeaders(w, hc.respMods)
	if closeConn {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	w.Flush()
	hc.observe(code, telemetry.FlagNone, time.Since(start))
	hc.finishTrace(code, telemetry.FlagNone, "", "", start)
	if hc.req.HasBody() {
		hc.lingerClose() // the unread body would turn the close into a reset
	}
	return !closeConn
}

func redirectText(code int) string {
	switch code {
	case 301:
		return "Moved Permanently"
	case 303:
		return "See Other"
	case 307:
		return "Temporary Redirect"
	case 308:
		return "Permanent Redirect"
	}
	return "Found"
}

// rewrite applies the route's URLRewrite: the path forwarded (pathBuf)
// and the Host header written upstream.
func (hc *h1conn) rewrite(rt *route.Route) {
	if out, ok := rt.RewritePath(hc.rewriteBuf[:0], hc.pathBuf); ok {
		hc.pathBuf, hc.rewriteBuf = out, hc.pathBuf
	}
	hc.hostRewrite = rt.Rewrite.Host
}

// mirror sends the copies the route asks for. A body is copied only when
// its length is known and at most mirror.BodyCap; it is then read here
// and replayed to the primary from memory. Otherwise the copy is dropped
// (counted), never the request.
func (hc *h1conn) mirror(st *State, rt *route.Route, query []byte) {
	s, req := hc.h.mirror, &hc.req
	var picked [route.MaxMirrors]bool
	some := false
	for i := range rt.Mirrors {
		if picked[i] = rt.Mirrors[i].Mirrored(hc.next()); picked[i] {
			some = true
		}
	}
	if !some {
		return
	}
	if req.HasBody() && (req.Chunked || req.ContentLength > mirror.BodyCap) {
		for range rt.Mirrors {
			s.Drop()
		}
		return
	}
	if req.HasBody() {
		if ok, err := hc.bufferBody(); !ok || err != nil {
			s.Drop() // the primary meets the same body, and its error, as before
			return
		}
	}
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
		s.Send(cl, hc.mirrorCopy(m, query))
	}
}

// mirrorCopy detaches the request as the upstream would see it: after
// header edits and rewrites, without hop-by-hop and mesh-internal
// headers, its Host suffixed -shadow.
func (hc *h1conn) mirrorCopy(m *route.Mirror, query []byte) *mirror.Request {
	req := &hc.req
	host := string(req.Authority)
	if hc.hostRewrite != "" {
		host = hc.hostRewrite
	}
	if !m.KeepHost {
		host = mirror.ShadowHost(host)
	}
	target := string(hc.pathBuf)
	if len(query) > 0 {
		target += "?" + string(query)
	}
	r := &mirror.Request{Method: string(req.Method), Host: host, Target: target, Header: make(http.Header, len(req.Headers))}
	for _, f := range req.Headers {
		n := f.Name
		if hopByHop(n) || nominated(req.ConnTokens, n) || identityHeader(n) || internalHeader(n) ||
			h1.EqualFold(n, "host") || h1.EqualFold(n, "content-length") || h1.EqualFold(n, "expect") ||
			hc.reqMods != nil && hc.reqMods.Drops(n) {
			continue
		}
		k := textproto.CanonicalMIMEHeaderKey(string(n))
		r.Header[k] = append(r.Header[k], string(f.Value))
	}
	if hc.reqMods != nil {
		h2ApplyMods(r.Header, &route.HeaderMods{Set: hc.reqMods.Set, Add: hc.reqMods.Add})
	}
	if hc.replaying {
		r.Body = append([]byte(nil), hc.replay...)
	}
	return r
}

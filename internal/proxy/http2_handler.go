package proxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// headerView adapts http.Header to route.Headers.
type headerView http.Header

func (h headerView) Get(name string) ([]byte, bool) {
	vs := http.Header(h)[textproto.CanonicalMIMEHeaderKey(name)]
	if len(vs) == 0 {
		return nil, false
	}
	return []byte(vs[0]), true
}

// ServeHTTP forwards one HTTP/2 stream.
func (h *HTTP2) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	r = h.beginTrace(r)
	grpc := isGRPC(r.Header)
	if headerListSize(r) > h.cfg.MaxHeaderBytes {
		h.fail(w, r, grpc, telemetry.FlagDownstreamProtocolError, http.StatusRequestHeaderFieldsTooLarge, "request header too large", nil, "", "", start)
		return
	}
	st := h.cfg.Runtime.Load()
	if st == nil {
		h.fail(w, r, grpc, telemetry.FlagNoRoute, http.StatusServiceUnavailable, "no configuration received yet", nil, "", "", start)
		return
	}
	hostIn := r.Host
	if h.cfg.ForceHost != "" {
		hostIn = h.cfg.ForceHost
	} else if fh, ok := r.Context().Value(forceHostKey{}).(string); ok {
		hostIn = fh // a CONNECT tunnel to a mesh service
	}
	host, err := route.NormalizeHost(nil, []byte(hostIn))
	if err != nil {
		h.fail(w, r, grpc, telemetry.FlagDownstreamProtocolError, http.StatusBadRequest, "invalid host", nil, "", "", start)
		return
	}
	path, query, err := route.NormalizePath(nil, []byte(r.RequestURI))
	if err != nil {
		h.fail(w, r, grpc, telemetry.FlagDownstreamProtocolError, http.StatusBadRequest, "invalid path", nil, "", "", start)
		return
	}
	if st.Authz != nil && h.authorize(w, r, grpc, st.Authz, host, path, start) {
		return
	}
	rt := st.Routes.Lookup(host, []byte(r.Method), path, query, headerView(r.Header))
	if rt == nil && h.cfg.OnMiss != nil {
		if next := h.cfg.OnMiss(host); next != nil {
			st, rt = next, next.Routes.Lookup(host, []byte(r.Method), path, query, headerView(r.Header))
		}
	}
	if rt == nil {
		h.fail(w, r, grpc, telemetry.FlagNoRoute, http.StatusNotFound, "no route for host", host, "", "", start)
		return
	}
	if rt.Filtered() && h.filter(w, r, grpc, rt, start) {
		return
	}
	if rt.Redirect != nil {
		h.redirect(w, r, rt, path, query, start)
		return
	}
	if rt.Rewrite != nil {
		if p, ok := rt.RewritePath(nil, path); ok {
			path = p
		}
		if rt.Rewrite.Host != "" {
			r.Host = rt.Rewrite.Host
		}
	}
	if len(rt.Mirrors) > 0 {
		h.mirrorRequest(st, rt, r, path, query)
	}
	backend := rt.PickBackend(rand.Uint64())
	cl := st.Clusters.Get(backend)
	if cl == nil {
		h.fail(w, r, grpc, telemetry.FlagNoCluster, rt.MissingStatus(), "no such backend", []byte(backend), "", rt.Name, start)
		return
	}
	if !cl.Breaker.Acquire(breaker.Requests) {
		h.overflow(w, r, grpc, cl, rt, breaker.Requests, start)
		return
	}
	defer cl.Breaker.Release(breaker.Requests)
	hash, hasHash := requestHash(cl, r)
	ep := cl.Pick(hash, hasHash)
	if ep == nil {
		h.fail(w, r, grpc, telemetry.FlagNoHealthyUpstream, http.StatusServiceUnavailable, "no healthy upstream for", []byte(cl.Config.Name), cl.Config.Name, rt.Name, start)
		return
	}
	timeout := rt.Timeout
	if timeout <= 0 {
		timeout = h.cfg.RequestTimeout
	}
	if d, ok := grpcTimeout(r.Header.Get("Grpc-Timeout")); ok && d < timeout {
		timeout = d
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	var reqBytes *countingBody
	if r.Body != nil && r.Body != http.NoBody {
		reqBytes = &countingBody{ReadCloser: r.Body}
		r.Body = reqBytes
	}
	res := h.tries(ctx, r, cl, ep, rt, string(path), string(query), start)
	if res.resp == nil {
		if res.overflow {
			h.overflow(w, r, grpc, cl, rt, res.kind, start)
			return
		}
		h.fail(w, r, grpc, res.flag, res.code, upstreamWords(res.flag), nil, cl.Config.Name, rt.Name, start)
		return
	}
	defer res.stop()
	resp, ep, began := res.resp, res.ep, res.began
	defer resp.Body.Close()
	if !trustPeerFlags(h.cfg.Direction, cl) {
		resp.Header.Del(telemetry.ResponseFlagsHeader) // only the mesh sets it
		resp.Trailer.Del(telemetry.ResponseFlagsHeader)
	}
	h2ApplyMods(resp.Header, rt.ResponseHeaders)
	n, err := copyResponse(w, resp)
	rec := h.newRec(r, grpc, cl.Config.Name, ep.Labels)
	rec.RequestBytes, rec.ResponseBytes = reqBytes.total(), n
	if err != nil {
		ep.End(began, true)
		f, _ := flagForUpstreamH2(err, ctxErrNear(ctx))
		logMeshResponse(h.log, f, 0, "upstream response cut short", nil, cl.Config.Name, rt.Name)
		h.observe(&rec, 0, f, start)
		h.finishTrace(r, &rec, 0, f, cl.Config.Name, start)
		abortStream(w, grpc, f)
		return
	}
	ep.EndStatus(began, resp.StatusCode)
	if grpc {
		rec.GRPCStatus = h2FinalGRPCStatus(resp)
	}
	h.observe(&rec, resp.StatusCode, telemetry.FlagNone, start)
	h.finishTrace(r, &rec, resp.StatusCode, telemetry.FlagNone, cl.Config.Name, start)
}

// headerListSize is the request's header list size as HTTP/2 counts it
// (RFC 9113 §6.5.2: name and value lengths plus 32 per field), pseudo
// headers included.
func headerListSize(r *http.Request) int {
	n := len(r.Method) + len(r.Host) + len(r.RequestURI) + len("http") + 4*32
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 32
		}
	}
	return n
}

// outbound builds the upstream request: same method, the normalised path,
// hop-by-hop headers removed, the mesh's forwarding headers set.
func (h *HTTP2) outbound(ctx context.Context, r *http.Request, addr, path, query string) *http.Request {
	hdr := make(http.Header, len(r.Header)+3)
	for k, vs := range r.Header {
		hdr[k] = vs
	}
	h2RemoveHop(hdr)
	h2StripInternal(hdr, h.cfg.Direction == "outbound" || !h.cfg.TrustForwarded, !h.cfg.TrustForwarded)
	delete(hdr, PeerHeader) // read by the inbound side, never for the app
	if v := h.cfg.Self.headerValues(); v != nil && v[0] != "" && h.cfg.Direction == "outbound" {
		hdr[PeerHeader] = v
	}
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := hdr["X-Forwarded-For"]; len(prior) > 0 {
			hdr.Set("X-Forwarded-For", strings.Join(prior, ", ")+", "+ip)
		} else {
			hdr.Set("X-Forwarded-For", ip)
		}
	}
	if fwd := hdr.Values("Forwarded"); len(fwd) > 0 {
		if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			forIP := ip
			if strings.Contains(ip, ":") {
				forIP = `"[` + ip + `]"`
			}
			hdr.Set("Forwarded", strings.Join(fwd, ", ")+", for="+forIP)
		}
	}
	if hdr.Get("X-Forwarded-Proto") == "" {
		proto := "http"
		if r.TLS != nil {
			proto = "https"
		}
		hdr.Set("X-Forwarded-Proto", proto)
	}
	if hdr.Get("X-Request-Id") == "" {
		hdr.Set("X-Request-Id", h2RequestID())
	}
	if h.cfg.Direction == "inbound" && r.TLS != nil {
		by := ""
		if h.cfg.LocalID != nil {
			by = h.cfg.LocalID()
		}
		if v := xfccValue(r.TLS, by); v != "" {
			hdr.Set(xfccHeader, v)
		}
	}
	if r.Header.Get("Te") == "trailers" {
		hdr.Set("Te", "trailers") // gRPC needs it end to end
	}
	traceOutbound(r.Context(), hdr, addr)
	body := r.Body
	if r.ContentLength == 0 {
		body = http.NoBody
	} else if r.Trailer != nil {
		body = &trailerFilter{ReadCloser: body, tr: r.Trailer}
	}
	return (&http.Request{
		Method:        r.Method,
		URL:           &url.URL{Scheme: "http", Host: addr, Opaque: path, RawQuery: query},
		Host:          r.Host,
		Header:        hdr,
		Body:          body,
		ContentLength: r.ContentLength,
		Trailer:       r.Trailer,
		Proto:         "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
	}).WithContext(ctx)
}

// abortStream ends a response the upstream broke off. A truncated body
// must not look complete: gRPC gets a final status in trailers (as its
// clients expect) with the flag beside it, anything else a stream reset.
func abortStream(w http.ResponseWriter, grpc bool, f telemetry.Flag) {
	if !grpc {
		panic(http.ErrAbortHandler) // net/http turns this into RST_STREAM
	}
	code := "14" // UNAVAILABLE
	if f == telemetry.FlagUpstreamTimeout {
		code = "4" // DEADLINE_EXCEEDED
	}
	w.Header().Set(http.TrailerPrefix+"Grpc-Status", code)
	w.Header().Set(http.TrailerPrefix+"Grpc-Message", "weft: "+upstreamWords(f)+" ("+f.String()+")")
	w.Header().Set(http.TrailerPrefix+telemetry.ResponseFlagsHeader, f.String())
}

// copyResponse streams the upstream response back, flushing every read so
// gRPC streams and server-sent events are not held back, then trailers. It
// returns an error when the upstream body ended early.
func copyResponse(w http.ResponseWriter, resp *http.Response) (int64, error) {
	dst := w.Header()
	for k, vs := range resp.Header {
		dst[k] = vs
	}
	h2RemoveHop(dst)
	w.WriteHeader(resp.StatusCode)
	fl, _ := w.(http.Flusher)
	bufp := copyBufs.Get().(*[]byte)
	defer copyBufs.Put(bufp)
	buf := *bufp
	var total int64
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			total += int64(n)
			if _, werr := w.Write(buf[:n]); werr != nil {
				return total, nil // the client went away; nothing left to tell it
			}
			if fl != nil {
				fl.Flush()
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return total, err
		}
	}
	h2DropTrailers(resp.Trailer)
	for k, vs := range resp.Trailer {
		dst[http.TrailerPrefix+k] = vs
	}
	return total, nil
}

var copyBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fail answers a request the proxy could not forward, with the flag in
// telemetry.ResponseFlagsHeader. gRPC clients get a trailers-only
// response with a grpc-status, as Envoy sends, and the body's words as
// grpc-message; others a one-line plain-text body.
func (h *HTTP2) fail(w http.ResponseWriter, r *http.Request, grpc bool, f telemetry.Flag, code int, why string, subject []byte, cluster, route string, start time.Time) {
	body := meshBody(f, why, subject)
	hdr := w.Header()
	hdr.Set(telemetry.ResponseFlagsHeader, f.String())
	if grpc {
		hdr.Set("Content-Type", "application/grpc")
		hdr.Set("Grpc-Status", grpcStatusFor(code))
		hdr.Set("Grpc-Message", strings.TrimSuffix(body, "\n"))
		w.WriteHeader(http.StatusOK)
	} else {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(code)
		if r.Method != http.MethodHead {
			io.WriteString(w, body)
		}
	}
	logMeshResponse(h.log, f, code, why, subject, cluster, route)
	traceCode := code
	rec := h.newRec(r, grpc, cluster, nil)
	if grpc {
		rec.GRPCStatus = grpcCodeFor(code)
		code = http.StatusOK // the status a gRPC client sees
	}
	h.observe(&rec, code, f, start)
	h.finishTrace(r, &rec, traceCode, f, cluster, start)
}

// requestHash computes the ring-hash key from the configured header or cookie.
func requestHash(cl *cluster.Cluster, r *http.Request) (uint64, bool) {
	hp := cl.Config.Hash
	switch {
	case hp.Header != "":
		if v := r.Header.Get(hp.Header); v != "" {
			return h2Hash(v), true
		}
	case hp.Cookie != "":
		if c, err := r.Cookie(hp.Cookie); err == nil {
			return h2Hash(c.Value), true
		}
	}
	return 0, false
}

var errNoCapacity = errors.New("no upstream capacity")

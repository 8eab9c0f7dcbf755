package proxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// bridge sends an HTTP/1.1 request over a multiplexed HTTP/2 connection:
// to an h2-only app, or to a peer sidecar when the hop between sidecars is
// HTTP/2. It is the slow path and allocates; header names travel in HTTP/2's
// lowercase, so their original case is not preserved on this path.
func (hc *h1conn) bridge(cl *cluster.Cluster, ep *cluster.Endpoint, rt *route.Route, query []byte, start time.Time) bool {
	h, req := hc.h, &hc.req
	if req.Upgrade != nil {
		return hc.reject(telemetry.FlagUpstreamProtocolError, 502, "upstream speaks HTTP/2: no upgrade", nil, cl.Config.Name, rt.Name, start)
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Unix(0, hc.deadline.Load()))
	defer cancel()
	out := &http.Request{
		Method:     string(req.Method),
		URL:        &url.URL{Scheme: "http", Host: ep.Address, Opaque: string(hc.pathBuf), RawQuery: string(query)},
		Host:       hc.bridgeHost(),
		Header:     make(http.Header, len(req.Headers)+3),
		Proto:      "HTTP/1.1",
		ProtoMajor: 1, ProtoMinor: 1,
	}
	trust := h.cfg.TrustForwarded
	stripInternal := !trust || h.cfg.Direction == "outbound"
	for _, f := range req.Headers {
		n := f.Name
		if hopByHop(n) || nominated(req.ConnTokens, n) || identityHeader(n) || stripInternal && internalHeader(n) || isPeerHeader(n) ||
			!trust && forwardingHeader(n) || equalFold(n, []byte("host")) || equalFold(n, []byte("expect")) {
			continue
		}
		k := textproto.CanonicalMIMEHeaderKey(string(n))
		out.Header[k] = append(out.Header[k], string(f.Value))
	}
	if xff := out.Header.Values("X-Forwarded-For"); len(xff) > 0 {
		out.Header.Set("X-Forwarded-For", strings.Join(xff, ", ")+", "+string(hc.clientIP))
	} else {
		out.Header.Set("X-Forwarded-For", string(hc.clientIP))
	}
	if fwd := out.Header.Values("Forwarded"); len(fwd) > 0 {
		// RFC 7239: a proxy that forwards Forwarded appends its hop.
		forIP := string(hc.clientIP)
		if strings.Contains(forIP, ":") {
			forIP = `"[` + forIP + `]"`
		}
		out.Header.Set("Forwarded", strings.Join(fwd, ", ")+", for="+forIP)
	}
	if out.Header.Get("X-Forwarded-Proto") == "" {
		out.Header.Set("X-Forwarded-Proto", "http")
	}
	if hc.xfcc != nil {
		out.Header.Set(xfccHeader, string(hc.xfcc))
	}
	h2ApplyMods(out.Header, rt.RequestHeaders)
	if v := h.cfg.Self.HeaderValue(); v != "" && h.cfg.Direction == "outbound" {
		out.Header.Set(PeerHeader, v)
	}
	if out.Header.Get("X-Request-Id") == "" {
		id := h2RequestID()
		out.Header.Set("X-Request-Id", id)
		copy(hc.reqID[:], id)
	}
	if hc.hop.Active {
		setTraceHeaders(out.Header, &hc.hop, nil)
	}
	hc.markUpstream()
	switch {
	case req.Chunked:
		// The trailer map must exist before the round trip for the
		// transport to send what the body's end fills in.
		out.Trailer = http.Header{}
		out.Body = &bridgeChunked{cr: httputil.NewChunkedReader(hc.br), hc: hc, tr: out.Trailer}
		out.ContentLength = -1
	case hc.replaying:
		out.Body, out.ContentLength = io.NopCloser(bytes.NewReader(hc.replay)), int64(len(hc.replay))
	case req.ContentLength > 0:
		out.Body, out.ContentLength = io.NopCloser(io.LimitReader(hc.br, req.ContentLength)), req.ContentLength
	default:
		out.Body = http.NoBody
	}
	if req.ExpectContinue {
		hc.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
		hc.bw.Flush()
	}
	began := ep.Begin()
	resp, err := ep.H2.RoundTrip(out.WithContext(ctx))
	if err != nil {
		ep.End(began, true)
		f, code := flagForUpstreamH2(err, ctxErrNear(ctx))
		hc.meshAnswered(f, code, upstreamWords(f), nil, cl.Config.Name, rt.Name, time.Since(start), true)
		return false
	}
	defer resp.Body.Close()
	if !trustPeerFlags(h.cfg.Direction, cl) {
		resp.Header.Del(telemetry.ResponseFlagsHeader) // only the mesh sets it
	}
	h2ApplyMods(resp.Header, rt.ResponseHeaders)
	keep := hc.writeBridged(resp)
	ep.EndStatus(began, resp.StatusCode)
	if hc.rec.Protocol == telemetry.ProtocolGRPC {
		hc.rec.GRPCStatus = h2FinalGRPCStatus(resp)
	}
	hc.observe(resp.StatusCode, telemetry.FlagNone, time.Since(start))
	hc.finishTrace(resp.StatusCode, telemetry.FlagNone, cl.Config.Name, ep.Address, start)
	return keep
}

// writeBridged writes an HTTP/2 response as HTTP/1.1: Content-Length when
// known, else chunked with the trailers at the end.
func (hc *h1conn) writeBridged(resp *http.Response) bool {
	w := hc.bw
	closeAfter := hc.req.Close || hc.h.draining.Load()
	w.WriteString("HTTP/1.1 ")
	w.WriteString(strconv.Itoa(resp.StatusCode))
	w.WriteByte(' ')
	w.WriteString(http.StatusText(resp.StatusCode))
	w.WriteString("\r\n")
	for k, vs := range resp.Header {
		if hopByHop([]byte(k)) {
			continue
		}
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	noBody := string(hc.req.Method) == "HEAD" || resp.StatusCode == 204 || resp.StatusCode == 304
	chunked := resp.ContentLength < 0 && !noBody
	if chunked {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if closeAfter {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	var err error
	if chunked {
		cw := httputil.NewChunkedWriter(w)
		_, err = io.Copy(cw, resp.Body)
		cw.Close()
		for k, vs := range resp.Trailer {
			for _, v := range vs {
				if validTrailer(k, v) {
					w.WriteString(k + ": " + v + "\r\n")
				}
			}
		}
		w.WriteString("\r\n")
	} else if !noBody {
		_, err = io.Copy(w, resp.Body)
	}
	if err != nil {
		w.Flush()
		return false
	}
	return w.Flush() == nil && !closeAfter
}

// bridgeChunked reads a client's chunked body for an HTTP/2 upstream. The
// chunk reader stops at the last chunk; the trailer section after it is
// read here, validated, and handed to the transport as trailers. Left in
// the buffer, it would be parsed as the next request on the connection.
type bridgeChunked struct {
	cr   io.Reader
	hc   *h1conn
	tr   http.Header
	done bool
}

func (b *bridgeChunked) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.cr.Read(p)
	if err != io.EOF {
		return n, err
	}
	b.done = true
	b.hc.scratch, err = h1.ReadTrailers(b.hc.br, b.hc.scratch, dropTrailer, func(name, value []byte) {
		k := textproto.CanonicalMIMEHeaderKey(string(name))
		b.tr[k] = append(b.tr[k], string(value))
	})
	if err != nil {
		return n, fmt.Errorf("bridge request trailers: %w", err)
	}
	return n, io.EOF
}

func (b *bridgeChunked) Close() error { return nil }

// bridgeHost is the authority sent upstream: a URLRewrite's host, else
// the request's.
func (hc *h1conn) bridgeHost() string {
	if hc.hostRewrite != "" {
		return hc.hostRewrite
	}
	return string(hc.req.Authority)
}

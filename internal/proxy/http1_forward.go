package proxy

import (
	"errors"
	"io"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/breaker"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// serve handles one parsed request and reports whether the connection may
// carry another.
func (hc *h1conn) serve(start time.Time) bool {
	h := hc.h
	req := &hc.req
	hc.beginRec()
	hc.beginTrace()
	st := h.cfg.Runtime.Load()
	if st == nil {
		return hc.reject(telemetry.FlagNoRoute, 503, "no configuration received yet", nil, "", "", start)
	}
	var err error
	if hc.forceHost != nil {
		hc.hostBuf = append(hc.hostBuf[:0], hc.forceHost...)
	} else if hc.hostBuf, err = route.NormalizeHost(hc.hostBuf[:0], req.Authority); err != nil {
		return hc.reject(telemetry.FlagDownstreamProtocolError, 400, "invalid host", nil, "", "", start)
	}
	var path, query []byte
	if req.IsConnect() {
		path = req.Path
	} else if path, query, err = route.NormalizePath(hc.pathBuf[:0], req.Path); err != nil {
		return hc.reject(telemetry.FlagDownstreamProtocolError, 400, "invalid path", nil, "", "", start)
	}
	hc.pathBuf = path
	if st.Authz != nil {
		if keep, done := hc.authorize(st.Authz, path, start); done {
			return keep
		}
	}
	rt := st.Routes.Lookup(hc.hostBuf, req.Method, path, query, hc)
	if rt == nil && h.cfg.OnMiss != nil {
		if next := h.cfg.OnMiss(hc.hostBuf); next != nil {
			st, rt = next, next.Routes.Lookup(hc.hostBuf, req.Method, path, query, hc)
		}
	}
	if rt == nil {
		return hc.reject(telemetry.FlagNoRoute, 404, "no route for host", hc.hostBuf, "", "", start)
	}
	hc.reqMods, hc.respMods = rt.RequestHeaders, rt.ResponseHeaders
	hc.hostRewrite, hc.replaying = "", false
	if rt.Filtered() {
		if keep, done := hc.filter(rt, start); done {
			return keep
		}
	}
	if rt.Redirect != nil {
		return hc.redirect(rt, query, start)
	}
	if rt.Rewrite != nil {
		hc.rewrite(rt)
	}
	if len(rt.Mirrors) > 0 && !req.IsConnect() && req.Upgrade == nil {
		hc.mirror(st, rt, query)
	}
	backend := rt.PickBackend(hc.next())
	cl := st.Clusters.Get(backend)
	if cl == nil {
		return hc.reject(telemetry.FlagNoCluster, rt.MissingStatus(), "no such backend", []byte(backend), "", rt.Name, start)
	}
	if !cl.Breaker.Acquire(breaker.Requests) {
		return hc.overflow(cl, rt, breaker.Requests, start)
	}
	defer cl.Breaker.Release(breaker.Requests)
	hash, hasHash := hc.hashKey(cl)
	ep := cl.Pick(hash, hasHash)
	hc.destination(cl, ep)
	if ep == nil {
		return hc.reject(telemetry.FlagNoHealthyUpstream, 503, "no healthy upstream for", []byte(cl.Config.Name), cl.Config.Name, rt.Name, start)
	}
	timeout := rt.Timeout
	if timeout <= 0 {
		timeout = h.cfg.RequestTimeout
	}
	if rt.Timeout > 0 {
		hc.h.noteTimeout(rt.Timeout)
	}
	hc.deadline.Store(start.Add(timeout).UnixNano())
	switch {
	case req.IsConnect():
		return hc.connect(cl, ep, rt, start)
	case cl.Config.Protocol == cluster.HTTP2 && ep.H2 != nil:
		return hc.bridge(cl, ep, rt, query, start)
	}
	return hc.forward(cl, ep, rt, query, start)
}

// reject answers a request the proxy will not forward, with the flag
// saying why. The connection closes after a malformed request, and when
// a body is left unread.
func (hc *h1conn) reject(f telemetry.Flag, code int, why string, subject []byte, clusterName, routeName string, start time.Time) bool {
	closeConn := code == 400 || hc.req.HasBody()
	hc.meshAnswered(f, code, why, subject, clusterName, routeName, time.Since(start), closeConn)
	if closeConn {
		hc.lingerClose() // the unread body would turn the close into a reset
	}
	return !closeConn && !hc.req.Close && !hc.h.draining.Load()
}

var errClientBody = errors.New("malformed request body")

// sendRequest writes the request head and body upstream. A body that is
// already buffered goes out in the same write as the head.
func (hc *h1conn) sendRequest(uc *upstream.Conn, query []byte) error {
	req := &hc.req
	hc.writeRequestHead(uc.W, query)
	switch {
	case hc.replaying:
		uc.W.Write(hc.replay) // kept for retries: see bufferBody
	case req.Chunked:
		var err error
		var n int64
		hc.scratch, n, err = h1.RelayChunkedN(uc.W, hc.br, hc.scratch, dropTrailer)
		hc.rec.RequestBytes = n
		if err != nil {
			if errors.Is(err, h1.ErrBadChunk) || errors.Is(err, h1.ErrHeaderTooLarge) {
				return errClientBody
			}
			return err
		}
	case req.ContentLength > 0:
		n := req.ContentLength
		if int64(hc.br.Buffered()) >= n && int64(uc.W.Available()) >= n {
			b, _ := hc.br.Peek(int(n))
			uc.W.Write(b)
			hc.br.Discard(int(n))
		} else if _, err := io.CopyN(uc.W, hc.br, n); err != nil {
			return err
		}
	}
	return uc.W.Flush()
}

// relayResponse writes the upstream's response to the client. It returns
// whether the client connection may continue and whether the upstream
// connection may be pooled again.
func (hc *h1conn) relayResponse(uc *upstream.Conn) (keep, upOK bool) {
	req, resp := &hc.req, &hc.resp
	hasBody, untilClose := resp.BodyFramed(req.Method)
	closeAfter := req.Close || hc.h.draining.Load() || untilClose
	hc.writeResponseHead(closeAfter, untilClose)
	var err error
	switch {
	case !hasBody:
	case resp.Chunked:
		hc.scratch, hc.rec.ResponseBytes, err = h1.RelayChunkedN(hc.bw, uc.R, hc.scratch, nil)
	case untilClose:
		hc.rec.ResponseBytes, err = io.Copy(hc.bw, uc.R)
		if err == nil {
			_ = hc.bw.Flush() // the connection closes either way
		}
		return false, false
	default:
		n := resp.ContentLength
		hc.rec.ResponseBytes = n
		if int64(uc.R.Buffered()) >= n && int64(hc.bw.Available()) >= n {
			b, _ := uc.R.Peek(int(n))
			hc.bw.Write(b)
			uc.R.Discard(int(n))
		} else {
			_, err = io.CopyN(hc.bw, uc.R, n)
		}
	}
	if err != nil {
		// Mid-body failure: the client has a partial response and must not
		// take it as complete, so the connection closes.
		hc.bw.Flush()
		return false, false
	}
	if err := hc.bw.Flush(); err != nil {
		return false, !resp.Close
	}
	return !closeAfter, !resp.Close
}

// hashKey computes a ring-hash key from the configured header or cookie.
func (hc *h1conn) hashKey(cl *cluster.Cluster) (uint64, bool) {
	hp := cl.Config.Hash
	switch {
	case hp.Header != "":
		if v, ok := hc.Get(hp.Header); ok {
			return fnv64(v), true
		}
	case hp.Cookie != "":
		if v, ok := hc.cookie(hp.Cookie); ok {
			return fnv64(v), true
		}
	}
	return 0, false
}

func (hc *h1conn) cookie(name string) ([]byte, bool) {
	for _, f := range hc.req.Headers {
		if !h1.EqualFold(f.Name, "cookie") {
			continue
		}
		v := f.Value
		for len(v) > 0 {
			var pair []byte
			pair, v = cut(v, ';')
			for len(pair) > 0 && pair[0] == ' ' {
				pair = pair[1:]
			}
			k, val := cut(pair, '=')
			if string(k) == name {
				return val, true
			}
		}
	}
	return nil, false
}

func cut(b []byte, sep byte) (before, after []byte) {
	for i, c := range b {
		if c == sep {
			return b[:i], b[i+1:]
		}
	}
	return b, nil
}

func fnv64(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return h
}

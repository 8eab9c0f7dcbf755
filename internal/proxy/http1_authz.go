package proxy

import (
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// localPort is the port c arrived on, for authorization's destination
// port; 0 when c is not TCP.
func localPort(c net.Conn) uint32 {
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok {
		return uint32(a.Port)
	}
	return 0
}

// authorize evaluates t on the request in its normalised form (the host
// and path routing reads). done reports that the request was denied and
// answered; keep then says whether the connection carries another.
func (hc *h1conn) authorize(t *authz.Table, path []byte, start time.Time) (keep, done bool) {
	hc.paramless = authz.StripParams(hc.paramless[:0], path)
	r := authz.Request{Peer: hc.peer, Method: hc.req.Method, Host: hc.hostBuf, Path: path, ParamlessPath: hc.paramless, Port: hc.localPort, Headers: hc}
	d := t.Evaluate(&r)
	if d.Allowed {
		return false, false
	}
	hc.h.cfg.Metrics.AuthzDenied(d.Policy)
	closeConn := hc.req.HasBody()
	id, ok := hc.Get("x-request-id")
	if !ok || !safeRequestID(id) {
		id = []byte(h2RequestID())
	}
	hc.writeDenied(id, d.Policy, closeConn)
	logMeshResponse(hc.h.log, telemetry.FlagUnauthorized, 403, deniedWords, []byte(d.Policy), "", "")
	hc.observe(403, telemetry.FlagUnauthorized, time.Since(start))
	hc.finishTrace(403, telemetry.FlagUnauthorized, "", "", start)
	if closeConn {
		hc.lingerClose() // the unread body would turn the close into a reset
	}
	return !closeConn && !hc.req.Close && !hc.h.draining.Load(), true
}

// deniedWords is the reason in a denial's body and log line.
const deniedWords = "denied by authorization policy"

// safeRequestID accepts a client's x-request-id for echoing: visible
// ASCII, at most 128 bytes. Anything else is replaced.
func safeRequestID(b []byte) bool {
	if len(b) == 0 || len(b) > 128 {
		return false
	}
	for _, c := range b {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// writeDenied writes the 403 of a denied request: the RBAC flag, the
// request id, and a body naming the policy.
func (hc *h1conn) writeDenied(id []byte, policy string, closeConn bool) {
	f := telemetry.FlagUnauthorized
	w := hc.bw
	w.WriteString("HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain; charset=utf-8\r\n")
	w.WriteString(telemetry.ResponseFlagsHeader)
	w.WriteString(": ")
	w.WriteString(f.String())
	w.WriteString("\r\nX-Request-Id: ")
	w.Write(id)
	w.WriteString("\r\nContent-Length: ")
	writeDecimal(w, meshBodyLen(f, deniedWords, []byte(policy)))
	w.WriteString("\r\n")
	if closeConn || hc.req.Close || hc.h.draining.Load() {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if string(hc.req.Method) != "HEAD" {
		writeMeshBody(w, f, deniedWords, []byte(policy))
	}
	w.Flush()
}

package proxy

import (
	"bufio"
	"bytes"

	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// hopByHop reports headers that describe one connection only (RFC 9110
// §7.6.1) plus framing the proxy re-creates itself.
func hopByHop(name []byte) bool {
	switch len(name) {
	case 2:
		return h1.EqualFold(name, "te")
	case 7:
		return h1.EqualFold(name, "upgrade")
	case 10:
		return h1.EqualFold(name, "connection") || h1.EqualFold(name, "keep-alive")
	case 14:
		return h1.EqualFold(name, "http2-settings")
	case 16:
		return h1.EqualFold(name, "proxy-connection")
	case 17:
		return h1.EqualFold(name, "transfer-encoding")
	case 18:
		return h1.EqualFold(name, "proxy-authenticate")
	case 19:
		return h1.EqualFold(name, "proxy-authorization")
	}
	return false
}

// nominated reports whether a Connection header listed name.
func nominated(tokens [][]byte, name []byte) bool {
	for _, t := range tokens {
		if equalFold(t, name) {
			return true
		}
	}
	return false
}

func equalFold(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x >= 'A' && x <= 'Z' {
			x += 'a' - 'A'
		}
		if y >= 'A' && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// internalHeader reports headers only the mesh may set: a client's copies
// are dropped on the outbound side, and from any untrusted downstream
// (CVE-2023-27487 class).
func internalHeader(name []byte) bool {
	return len(name) >= 7 && h1.EqualFold(name[:7], "x-weft-") || h1.EqualFold(name, "x-mesh-identity")
}

// writeRequestHead writes the upstream request line and headers: header
// case kept, hop-by-hop and Connection-named headers dropped, forwarding
// headers added. Connection tokens were parsed before anything was added,
// so a client cannot make the proxy drop what it sets (CVE-2021-33197).
// An untrusted downstream's forwarding and internal headers are dropped:
// the upstream sees only what this proxy set (RELIABILITY row 11).
func (hc *h1conn) writeRequestHead(w *bufio.Writer, query []byte) {
	req := &hc.req
	trust := hc.h.cfg.TrustForwarded
	stripInternal := !trust || hc.h.cfg.Direction == "outbound"
	w.Write(req.Method)
	w.WriteByte(' ')
	w.Write(hc.pathBuf)
	if len(query) > 0 {
		w.WriteByte('?')
		w.Write(query)
	}
	w.WriteString(" HTTP/1.1\r\n")
	mods := hc.reqMods
	var sawXFF, sawProto, sawID bool
	if mods != nil {
		sawXFF, sawProto, sawID = mods.Sets("x-forwarded-for"), mods.Sets("x-forwarded-proto"), mods.Sets("x-request-id")
	}
	hostSet := req.AbsoluteForm || hc.hostRewrite != ""
	switch {
	case hc.hostRewrite != "":
		w.WriteString("Host: ")
		w.WriteString(hc.hostRewrite)
		w.WriteString("\r\n")
	case req.AbsoluteForm:
		w.WriteString("Host: ")
		w.Write(req.Authority)
		w.WriteString("\r\n")
	}
	for _, f := range req.Headers {
		n := f.Name
		switch {
		case hopByHop(n), nominated(req.ConnTokens, n):
			continue
		case identityHeader(n), stripInternal && internalHeader(n), !trust && forwardingHeader(n), isPeerHeader(n):
			continue
		case hostSet && h1.EqualFold(n, "host"):
			continue
		case mods != nil && mods.Drops(n):
			continue // removed, or replaced by the route's set
		case hc.hop.Active && traceHeader(n):
			continue // rewritten below for this hop
		case h1.EqualFold(n, "expect"):
			continue // answered by the proxy
		case h1.EqualFold(n, "x-forwarded-for"):
			sawXFF = true
			w.Write(n)
			w.WriteString(": ")
			w.Write(f.Value)
			w.WriteString(", ")
			w.Write(hc.clientIP)
			w.WriteString("\r\n")
			continue
		case h1.EqualFold(n, "forwarded"):
			// RFC 7239: a proxy that forwards Forwarded appends its hop.
			w.Write(n)
			w.WriteString(": ")
			w.Write(f.Value)
			w.WriteString(", for=")
			hc.writeForwardedFor(w)
			w.WriteString("\r\n")
			continue
		case h1.EqualFold(n, "x-forwarded-proto"):
			sawProto = true
		case h1.EqualFold(n, "x-request-id"):
			sawID = true
		}
		w.Write(n)
		w.WriteString(": ")
		w.Write(f.Value)
		w.WriteString("\r\n")
	}
	writeModHeaders(w, mods)
	if hc.hop.Active {
		hc.writeTraceHeaders(w)
	}
	if hc.xfcc != nil {
		w.WriteString(xfccHeader + ": ")
		w.Write(hc.xfcc)
		w.WriteString("\r\n")
	}
	if !sawXFF {
		w.WriteString("X-Forwarded-For: ")
		w.Write(hc.clientIP)
		w.WriteString("\r\n")
	}
	if !sawProto {
		w.WriteString("X-Forwarded-Proto: http\r\n")
	}
	if !sawID {
		w.WriteString("X-Request-Id: ")
		hc.writeID(w)
		w.WriteString("\r\n")
	}
	if req.Chunked {
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if v := hc.h.cfg.Self.HeaderValue(); v != "" && hc.h.cfg.Direction == "outbound" {
		w.WriteString(PeerHeader + ": ")
		w.WriteString(v)
		w.WriteString("\r\n")
	}
	if req.Upgrade != nil {
		w.WriteString("Connection: Upgrade\r\nUpgrade: ")
		w.Write(req.Upgrade)
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
}

// writeForwardedFor writes the client address as a Forwarded "for"
// value; IPv6 addresses are quoted and bracketed (RFC 7239 §6).
func (hc *h1conn) writeForwardedFor(w *bufio.Writer) {
	if bytes.IndexByte(hc.clientIP, ':') >= 0 {
		w.WriteString("\"[")
		w.Write(hc.clientIP)
		w.WriteString("]\"")
		return
	}
	w.Write(hc.clientIP)
}

// writeID writes a random 128-bit request id as 32 hex digits.
// It formats straight into the writer's buffer: a local array would escape
// through bufio's io.Writer and cost an allocation per request.
func (hc *h1conn) writeID(w *bufio.Writer) {
	if w.Available() < 32 {
		w.Flush()
	}
	b := w.AvailableBuffer()
	a, c := hc.next(), hc.next()
	for i := 0; i < 16; i++ {
		b = append(b, hexDigits[(a>>(4*i))&15])
	}
	for i := 0; i < 16; i++ {
		b = append(b, hexDigits[(c>>(4*i))&15])
	}
	copy(hc.reqID[:], b) // spans and access logs name the request by it
	w.Write(b)
}

const hexDigits = "0123456789abcdef"

// writeResponseHead writes the upstream's status line and headers to the
// client, minus hop-by-hop fields, with the framing the proxy relays.
func (hc *h1conn) writeResponseHead(closeAfter, untilClose bool) {
	resp, w := &hc.resp, hc.bw
	w.WriteString("HTTP/1.1")
	w.Write(resp.Line[8:])
	w.WriteString("\r\n")
	for _, f := range resp.Headers {
		if hopByHop(f.Name) || nominated(resp.ConnTokens, f.Name) {
			if !(resp.Status == 101 && h1.EqualFold(f.Name, "upgrade")) {
				continue
			}
		}
		if !hc.peerFlags && isFlagsHeader(f.Name) {
			continue // only the mesh sets it
		}
		if hc.respMods != nil && hc.respMods.Drops(f.Name) {
			continue // removed, or replaced by the route's set
		}
		w.Write(f.Name)
		w.WriteString(": ")
		w.Write(f.Value)
		w.WriteString("\r\n")
	}
	writeModHeaders(w, hc.respMods)
	switch {
	case resp.Status == 101:
		w.WriteString("Connection: Upgrade\r\n")
	case resp.Chunked:
		w.WriteString("Transfer-Encoding: chunked\r\n")
	}
	if closeAfter && resp.Status != 101 {
		w.WriteString("Connection: close\r\n")
	}
	_ = untilClose
	w.WriteString("\r\n")
}

// writeMesh sends a response the proxy makes itself: the status, the
// flag in telemetry.ResponseFlagsHeader and a one-line plain-text body
// saying why (none for HEAD). It allocates nothing: the flag's words and
// codes are constants, the subject is request bytes.
func (hc *h1conn) writeMesh(f telemetry.Flag, code int, why string, subject []byte, closeConn bool) {
	w := hc.bw
	w.WriteString("HTTP/1.1 ")
	writeStatusCode(w, code)
	w.WriteByte(' ')
	w.WriteString(statusText(code))
	w.WriteString("\r\nContent-Type: text/plain; charset=utf-8\r\n")
	w.WriteString(telemetry.ResponseFlagsHeader)
	w.WriteString(": ")
	w.WriteString(f.String())
	w.WriteString("\r\nContent-Length: ")
	writeDecimal(w, meshBodyLen(f, why, subject))
	w.WriteString("\r\n")
	if closeConn || hc.req.Close || hc.h.draining.Load() {
		w.WriteString("Connection: close\r\n")
	}
	w.WriteString("\r\n")
	if string(hc.req.Method) != "HEAD" {
		writeMeshBody(w, f, why, subject)
	}
	w.Flush()
}

func statusText(code int) string {
	switch code {
	case 400:
		return "Bad Request"
	case 403:
		return "Forbidden"
	case 404:
		return "Not Found"
	case 408:
		return "Request Timeout"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 429:
		return "Too Many Requests"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Error"
}

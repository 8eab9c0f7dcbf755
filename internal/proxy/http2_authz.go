package proxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/authz"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// connInfo is what authorization needs of an HTTP/2 connection, read once
// when it is accepted: the verified peer identity and the local port.
type connInfo struct {
	peer string
	port uint32
}

type connInfoKey struct{}

// withConnInfo records c's identity in the context its streams inherit.
// It reads c itself (the *tls.Conn the listener handed over), not the
// guard that wraps it.
func withConnInfo(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connInfoKey{}, &connInfo{peer: PeerID(c), port: localPort(c)})
}

// streamConn is r's connection info: the identity and port read when its
// connection was accepted, or, for a stream served without it, r.TLS.
// Authorization and the metrics' source labels both read it.
func streamConn(r *http.Request) *connInfo {
	if ci, _ := r.Context().Value(connInfoKey{}).(*connInfo); ci != nil {
		return ci
	}
	return &connInfo{peer: PeerIDFromState(r.TLS)}
}

// grpcPermissionDenied is the gRPC status of a call an authorization
// policy denies (Envoy's RBAC filter answers 403, which gRPC maps to it).
const grpcPermissionDenied = "7"

// authorize evaluates t on one stream and answers it when denied.
func (h *HTTP2) authorize(w http.ResponseWriter, r *http.Request, grpc bool, t *authz.Table, host, path []byte, start time.Time) bool {
	ci := streamConn(r)
	req := authz.Request{Peer: ci.peer, Method: []byte(r.Method), Host: host, Path: path, ParamlessPath: authz.StripParams(nil, path),
		Port: ci.port, Headers: headerView(r.Header)}
	d := t.Evaluate(&req)
	if d.Allowed {
		return false
	}
	h.cfg.Metrics.AuthzDenied(d.Policy)
	f := telemetry.FlagUnauthorized
	body := meshBody(f, deniedWords, []byte(d.Policy))
	hdr := w.Header()
	hdr.Set(telemetry.ResponseFlagsHeader, f.String())
	id := r.Header.Get("X-Request-Id")
	if !safeRequestID([]byte(id)) {
		id = h2RequestID()
	}
	hdr.Set("X-Request-Id", id)
	if grpc {
		hdr.Set("Content-Type", "application/grpc")
		hdr.Set("Grpc-Status", grpcPermissionDenied)
		hdr.Set("Grpc-Message", strings.TrimSuffix(body, "\n"))
		w.WriteHeader(http.StatusOK)
	} else {
		hdr.Set("Content-Type", "text/plain; charset=utf-8")
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(http.StatusForbidden)
		if r.Method != http.MethodHead {
			io.WriteString(w, body)
		}
	}
	logMeshResponse(h.log, f, http.StatusForbidden, deniedWords, []byte(d.Policy), "", "")
	code := http.StatusForbidden
	rec := h.newRec(r, grpc, "", nil)
	if grpc {
		rec.GRPCStatus, code = 7, http.StatusOK // PERMISSION_DENIED, as the client sees it
	}
	h.observe(&rec, code, f, start)
	h.finishTrace(r, &rec, http.StatusForbidden, f, "", start)
	return true
}

package proxy

import (
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/upstream"
)

// roundTrip sends an HTTP/2 stream's request to ep in the version the
// cluster calls for: HTTP/2 when declared; for Auto, HTTP/2 too unless the
// endpoint is known to speak only HTTP/1.1, which then gets the request
// converted. gRPC cannot be converted, so it is answered by the mesh.
func (h *HTTP2) roundTrip(cl *cluster.Cluster, ep *cluster.Endpoint, out *http.Request) (*http.Response, error) {
	switch cl.Config.Protocol {
	case cluster.HTTP2:
		if ep.H2 != nil {
			return ep.H2.RoundTrip(out)
		}
	case cluster.Auto:
		if ep.H2 != nil && !ep.H2.HTTP1Only() {
			resp, err := ep.H2.RoundTrip(keepBody(out))
			if !errors.Is(err, upstream.ErrHTTP1Only) {
				return resp, err
			}
			// Found out on this dial: nothing was sent, send it again.
		}
		if nativeGRPC(out.Header) {
			return grpcNeedsHTTP2(out), nil
		}
	case cluster.HTTP1:
		// An inbound app declared HTTP/1.1-only cannot answer gRPC. Between
		// sidecars an HTTP/1.1 cluster still reaches a sidecar that may
		// bridge to an HTTP/2 app, so outbound keeps trying.
		if h.cfg.Direction == "inbound" && nativeGRPC(out.Header) {
			return grpcNeedsHTTP2(out), nil
		}
	}
	return roundTripH1(ep, out, h.lim)
}

// keepBody hides the body's Close from the HTTP/2 transport, which closes
// it when a dial fails: the same body must still be readable for the
// HTTP/1.1 retry. An empty body stays http.NoBody so framing is unchanged.
func keepBody(out *http.Request) *http.Request {
	if out.Body == nil || out.Body == http.NoBody {
		return out
	}
	r := *out
	r.Body = io.NopCloser(out.Body)
	return &r
}

// nativeGRPC is gRPC over HTTP/2 (application/grpc, +proto, ;charset...),
// not gRPC-Web, which HTTP/1.1 carries fine.
func nativeGRPC(h http.Header) bool {
	ct := h.Get("Content-Type")
	rest, ok := strings.CutPrefix(ct, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// grpcNeedsHTTP2 is the mesh's trailers-only answer to a gRPC call whose
// app speaks HTTP/1.1 only: UNAVAILABLE, with the reason in words.
func grpcNeedsHTTP2(out *http.Request) *http.Response {
	return &http.Response{
		StatusCode: http.StatusOK,
		Proto:      "HTTP/2.0", ProtoMajor: 2,
		Header: http.Header{
			"Content-Type": {"application/grpc"},
			"Grpc-Status":  {"14"},
			"Grpc-Message": {"weft: the app at " + out.URL.Host + " speaks HTTP/1.1 only; gRPC needs HTTP/2"},
		},
		Body:          http.NoBody,
		ContentLength: 0,
		Request:       out,
	}
}

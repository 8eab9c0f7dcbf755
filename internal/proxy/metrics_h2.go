package proxy

import (
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/weft-mesh/weft/internal/telemetry"
)

// newRec labels one HTTP/2 request. clusterName and labels describe the
// destination on outbound ("" and nil when none was picked). This path
// allocates anyway (net/http); the HTTP/1.1 engine keeps its record per
// connection.
func (h *HTTP2) newRec(r *http.Request, grpc bool, clusterName string, labels map[string]string) telemetry.Request {
	rec := telemetry.Request{GRPCStatus: -1, RequestBytes: max(r.ContentLength, 0)}
	if grpc {
		rec.Protocol = telemetry.ProtocolGRPC
	}
	if h.cfg.Direction == "inbound" {
		rec.Reporter = telemetry.ReporterDestination
		if h.cfg.Self != nil {
			rec.Destination, rec.Service = h.cfg.Self.Workload, h.cfg.Self.Service
		}
		peerID := streamConn(r).peer
		rec.MTLS = peerID != ""
		rec.Source = inboundSource(r.Header.Get(PeerHeader), peerID, h.cfg.TrustForwarded)
		return rec
	}
	rec.Reporter = telemetry.ReporterSource
	if h.cfg.Self != nil {
		rec.Source = h.cfg.Self.Workload
	}
	if clusterName != "" {
		destinationOfName(&rec, clusterName, labels)
	}
	return rec
}

// inboundSource is the caller's workload from an unparsed peer header;
// see trustedSource.
func inboundSource(hdr, peerID string, trust bool) telemetry.Workload {
	var w telemetry.Workload
	if hdr != "" && len(hdr) <= maxPeerHeader {
		w = ParsePeerHeader(hdr)
	}
	return trustedSource(w, hdr != "" && len(hdr) <= maxPeerHeader, peerID, trust)
}

// trustedSource is the caller's workload: what the peer header claims
// (w, when sent), if the mTLS peer it names is the one that connected or
// the listener trusts its downstream's headers; else what mTLS alone
// proves. Both engines decide with it.
func trustedSource(w telemetry.Workload, sent bool, peerID string, trust bool) telemetry.Workload {
	if sent {
		switch {
		case peerID != "" && w.Principal == peerID:
			return w
		case peerID == "" && trust:
			w.Principal = "" // only mTLS proves a principal
			return w
		}
	}
	if peerID == "" {
		return telemetry.Workload{}
	}
	return mtlsSource(peerID)
}

func (h *HTTP2) observe(rec *telemetry.Request, code int, f telemetry.Flag, start time.Time) {
	rec.Code, rec.Flag, rec.Duration = code, f, time.Since(start)
	h.cfg.Metrics.ObserveRequest(rec)
}

// h2FinalGRPCStatus is the response's grpc-status: from the trailers, or the
// headers of a trailers-only answer; -1 when absent.
func h2FinalGRPCStatus(resp *http.Response) int {
	v := resp.Trailer.Get("Grpc-Status")
	if v == "" {
		v = resp.Header.Get("Grpc-Status")
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 && n <= 99 {
		return n
	}
	return -1
}

// countingBody counts the request body bytes the upstream read.
type countingBody struct {
	io.ReadCloser
	n int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	return n, err
}

// total is the bytes read; 0 for a nil body.
func (c *countingBody) total() int64 {
	if c == nil {
		return 0
	}
	return c.n
}

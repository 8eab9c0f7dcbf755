package proxy

import (
	"bytes"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// initRec sets the labels that hold for the whole connection: which side
// reports, this sidecar's workload, and on inbound the mTLS peer.
func (hc *h1conn) initRec() {
	r, cfg := &hc.rec, &hc.h.cfg
	if cfg.Direction == "inbound" {
		r.Reporter = telemetry.ReporterDestination
		if cfg.Self != nil {
			r.Destination, r.Service = cfg.Self.Workload, cfg.Self.Service
		}
		r.MTLS = hc.peer != ""
		return
	}
	r.Reporter = telemetry.ReporterSource
	if cfg.Self != nil {
		r.Source = cfg.Self.Workload
	}
}

// beginRec resets the per-request labels for a newly read request.
func (hc *h1conn) beginRec() {
	r, req := &hc.rec, &hc.req
	r.Code, r.GRPCStatus, r.Flag, r.Duration = 0, -1, telemetry.FlagNone, 0
	r.RequestBytes, r.ResponseBytes = max(req.ContentLength, 0), 0
	r.Protocol = telemetry.ProtocolHTTP
	var peer []byte
	for _, f := range req.Headers {
		switch {
		case h1.EqualFold(f.Name, "content-type") && bytes.HasPrefix(f.Value, []byte("application/grpc")):
			r.Protocol = telemetry.ProtocolGRPC
		case isPeerHeader(f.Name):
			peer = f.Value
		}
	}
	if r.Reporter == telemetry.ReporterDestination {
		r.Source = hc.source(peer)
		return
	}
	r.Service, r.Destination = telemetry.Service{}, telemetry.Workload{}
}

// source labels an inbound request's caller (see trustedSource), parsing
// the peer header only when it differs from the connection's last one.
func (hc *h1conn) source(peer []byte) telemetry.Workload {
	sent := peer != nil && len(peer) <= maxPeerHeader
	if sent && (hc.peerHdr == nil || !bytes.Equal(peer, hc.peerHdr)) {
		hc.peerHdr = append(hc.peerHdr[:0], peer...)
		hc.peerSrc = ParsePeerHeader(string(peer))
	}
	return trustedSource(hc.peerSrc, sent, hc.peer, hc.h.cfg.TrustForwarded)
}

// mtlsSource is what a verified SPIFFE ID alone says of the caller.
func mtlsSource(id string) telemetry.Workload {
	return telemetry.Workload{Principal: id, Namespace: spiffeNamespace(id)}
}

// destination labels an outbound request's destination from the cluster
// and the endpoint picked; inbound keeps this sidecar's own.
func (hc *h1conn) destination(cl *cluster.Cluster, ep *cluster.Endpoint) {
	if hc.rec.Reporter != telemetry.ReporterSource {
		return
	}
	d := &hc.dst
	if cl == d.cl && ep == d.ep {
		hc.rec.Service, hc.rec.Destination = d.svc, d.w
		return
	}
	destinationOf(&hc.rec, cl, ep)
	*d = dstLabels{cl: cl, ep: ep, svc: hc.rec.Service, w: hc.rec.Destination}
}

// dstLabels are the destination labels destinationOf gave a cluster and
// endpoint. Reusing them is exact: a cluster's name and an endpoint's
// labels never change (changed labels make a new endpoint), and the
// pointers held here keep both from being freed and their addresses
// reused. It saves the labels' map lookups (two per request: the pick
// and the response).
type dstLabels struct {
	cl  *cluster.Cluster
	ep  *cluster.Endpoint
	svc telemetry.Service
	w   telemetry.Workload
}

// observe records the request with its outcome.
func (hc *h1conn) observe(code int, f telemetry.Flag, d time.Duration) {
	r := &hc.rec
	r.Code, r.Flag, r.Duration = code, f, d
	if r.Protocol == telemetry.ProtocolGRPC && r.GRPCStatus < 0 && f != telemetry.FlagNone {
		r.GRPCStatus = grpcCodeFor(code)
	}
	hc.h.cfg.Metrics.ObserveRequest(r)
}

// grpcCodeFor is grpcStatusFor as a number.
func grpcCodeFor(code int) int {
	switch code {
	case 404:
		return 12
	case 504:
		return 4
	case 400:
		return 13
	}
	return 14
}

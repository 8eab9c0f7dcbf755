package proxy

import (
	"net"
	"strings"
	"sync/atomic"

	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/h1"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/telemetry"
)

// PeerHeader carries the calling sidecar's workload to the callee's
// sidecar, for the source_* labels of its metrics: the outbound side sets
// it (an app's copy is dropped with every X-Weft-* header), the inbound
// side reads it when it can trust it and always removes it before the
// app. Its value is "key=value" pairs joined by ";": workload, namespace,
// app, version, principal, cluster.
const PeerHeader = "X-Weft-Peer"

// Self is this sidecar's own workload, for the labels of the side it
// reports: the source on outbound, the destination on inbound.
type Self struct {
	Workload telemetry.Workload
	// Service is the destination service of inbound requests.
	Service telemetry.Service
	// header is PeerHeader's value for Workload, with the principal once
	// the sidecar has a certificate (SetPrincipal).
	header atomic.Pointer[[1]string]
}

// NewSelf fills the canonical labels and renders the peer header.
func NewSelf(w telemetry.Workload, svc telemetry.Service) *Self {
	w.Canonicalize()
	s := &Self{Workload: w, Service: svc}
	s.header.Store(&[1]string{peerHeaderOf(w)})
	return s
}

// SetPrincipal adds this sidecar's SPIFFE ID to the peer header, once its
// first certificate arrives: a callee believes the header's workload only
// when the principal in it is the mTLS peer that connected.
func (s *Self) SetPrincipal(id string) {
	if s == nil {
		return
	}
	w := s.Workload
	w.Principal = id
	s.header.Store(&[1]string{peerHeaderOf(w)})
}

func peerHeaderOf(w telemetry.Workload) string {
	var b strings.Builder
	for _, kv := range [][2]string{{"workload", w.Name}, {"namespace", w.Namespace}, {"app", w.App},
		{"version", w.Version}, {"principal", w.Principal}, {"cluster", w.Cluster}} {
		if kv[1] == "" || strings.ContainsAny(kv[1], ";=\r\n") {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(';')
		}
		b.WriteString(kv[0] + "=" + kv[1])
	}
	return b.String()
}

// HeaderValue is what the outbound side sends in PeerHeader.
func (s *Self) HeaderValue() string {
	if s == nil {
		return ""
	}
	return s.header.Load()[0]
}

// headerValues is HeaderValue as an http.Header value, shared by every
// request (never written to: nothing edits a header value in place, and
// the full slice expression makes an append copy), so that setting it
// allocates nothing. nil when there is no Self.
func (s *Self) headerValues() []string {
	if s == nil {
		return nil
	}
	return s.header.Load()[:1:1]
}

// ParsePeerHeader reads PeerHeader's value. Unknown keys are skipped, so
// a newer peer can add some; a malformed pair ends the parse.
func ParsePeerHeader(v string) telemetry.Workload {
	var w telemetry.Workload
	for v != "" && len(v) <= maxPeerHeader {
		var pair string
		pair, v, _ = strings.Cut(v, ";")
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		if !ok {
			break
		}
		if strings.ContainsAny(val, "=\r\n") {
			continue // NewSelf never sends such a value
		}
		switch k {
		case "workload":
			w.Name = val
		case "namespace":
			w.Namespace = val
		case "app":
			w.App = val
		case "version":
			w.Version = val
		case "principal":
			w.Principal = val
		case "cluster":
			w.Cluster = val
		}
	}
	w.Canonicalize()
	return w
}

// maxPeerHeader bounds a peer header's value: longer ones are ignored.
const maxPeerHeader = 1024

func isPeerHeader(name []byte) bool { return h1.EqualFold(name, "x-weft-peer") }

// spiffeNamespace is NS of spiffe://TD/ns/NS/sa/SA, else "".
func spiffeNamespace(id string) string {
	_, rest, ok := strings.Cut(strings.TrimPrefix(id, "spiffe://"), "/ns/")
	if !ok {
		return ""
	}
	ns, _, _ := strings.Cut(rest, "/")
	return ns
}

// destinationOf labels an outbound request's destination from the
// cluster and the picked endpoint's labels.
func destinationOf(r *telemetry.Request, cl *cluster.Cluster, ep *cluster.Endpoint) {
	var labels map[string]string
	if ep != nil {
		labels = ep.Labels
	}
	destinationOfName(r, cl.Config.Name, labels)
}

// destinationOfName labels the destination from a cluster name (a mesh
// service's cluster is named NAME.NAMESPACE) and the endpoint's labels
// (workload, app, version, cluster); nothing here allocates. A subset's
// cluster (NAME.NAMESPACE/SUBSET) is its service's.
func destinationOfName(r *telemetry.Request, name string, labels map[string]string) {
	host, _, _ := strings.Cut(name, "/") // a subset's cluster: NAME.NAMESPACE/SUBSET
	svc, ns, _ := strings.Cut(host, ".")
	r.Service = telemetry.Service{Host: host, Name: svc, Namespace: ns}
	d := &r.Destination
	*d = telemetry.Workload{Name: svc, Namespace: ns}
	if labels != nil {
		if w := labels["workload"]; w != "" {
			d.Name = w
		}
		d.App, d.Version, d.Cluster = labels["app"], labels["version"], labels["cluster"]
	}
	if d.App == "" {
		d.App = svc // as the callee's sidecar labels itself
	}
	d.CanonicalService, d.CanonicalRevision = d.App, d.Version
	if d.CanonicalService == "" {
		d.CanonicalService = svc
	}
	if d.CanonicalRevision == "" {
		d.CanonicalRevision = "latest"
	}
}

// TCPLabels labels a TCP connection: on inbound the caller is what mTLS
// proves (a byte stream carries no peer header), on outbound the
// destination is the cluster and endpoint picked.
func TCPLabels(direction string, self *Self, down net.Conn, cl *cluster.Cluster, ep *cluster.Endpoint) *telemetry.Conn {
	c := &telemetry.Conn{}
	if direction == "inbound" {
		c.Reporter = telemetry.ReporterDestination
		if self != nil {
			c.Destination, c.Service = self.Workload, self.Service
		}
		if id := PeerID(down); id != "" {
			c.MTLS, c.Source = true, mtlsSource(id)
		}
		return c
	}
	c.Reporter = telemetry.ReporterSource
	if self != nil {
		c.Source = self.Workload
	}
	var r telemetry.Request
	destinationOf(&r, cl, ep)
	c.Destination, c.Service = r.Destination, r.Service
	return c
}

// routeService is the service a route sends to (its first backend's
// cluster, a subset's without the subset), for requests the mesh answers
// on the route before any cluster is picked (fault aborts, rate limits):
// Istio labels those with the route's destination_service too, so an
// edge's request count and success rate include them. "" when the route
// has no backend.
func routeService(rt *route.Route) string {
	if rt == nil || len(rt.Backends) == 0 {
		return ""
	}
	host, _, _ := strings.Cut(rt.Backends[0].Cluster, "/")
	return host
}

package server

import (
	"fmt"
	"strconv"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxNames caps the resource names one subscription may list.
const maxNames = 10000

// subscription is one type's state on one stream.
type subscription struct {
	names []string
	nonce string
	sent  string // version last sent
}

type stream struct {
	srv   *Server
	grpc  grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	node  string
	subs  map[string]*subscription
	nonce int64
}

// StreamAggregatedResources serves one sidecar's ADS stream.
func (s *Server) StreamAggregatedResources(g grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]) error {
	ctx := g.Context()
	reqs := make(chan *discoveryv3.DiscoveryRequest, 8)
	errc := make(chan error, 1)
	go func() {
		for {
			r, err := g.Recv()
			if err != nil {
				errc <- err
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	}()
	st := &stream{srv: s, grpc: g, subs: map[string]*subscription{}}
	defer func() {
		s.mu.Lock()
		delete(s.status, st)
		s.mu.Unlock()
	}()
	for {
		_, changed := s.resourcesFor(st.node)
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if status.Code(err) == codes.Canceled {
				return nil
			}
			return err
		case r := <-reqs:
			if err := st.handle(r); err != nil {
				return err
			}
		case <-changed:
			res, _ := s.resourcesFor(st.node)
			if err := st.pushAll(res); err != nil {
				return err
			}
		}
	}
}

func (st *stream) handle(r *discoveryv3.DiscoveryRequest) error {
	s := st.srv
	if st.node == "" {
		if r.GetNode().GetId() == "" {
			return status.Error(codes.InvalidArgument, errNoNode.Error())
		}
		st.node = r.Node.Id
		s.mu.Lock()
		s.status[st] = &ProxyStatus{Node: st.node, Connected: time.Now(), Acked: map[string]string{}, NACKs: map[string]string{}}
		s.mu.Unlock()
		s.log.Info("proxy connected", "node", st.node)
	}
	typ := r.GetTypeUrl()
	if typ != ClusterType && typ != EndpointType && typ != RouteType {
		return status.Errorf(codes.InvalidArgument, "xds: unsupported type %q", typ)
	}
	if len(r.ResourceNames) > maxNames {
		return status.Errorf(codes.InvalidArgument, "xds: more than %d resource names", maxNames)
	}
	sub := st.subs[typ]
	if sub == nil {
		sub = &subscription{}
		st.subs[typ] = sub
	}
	if r.ResponseNonce != "" && r.ResponseNonce != sub.nonce {
		return nil // answers an older response; a newer one is in flight
	}
	if r.ResponseNonce != "" {
		s.mu.Lock()
		ps := s.status[st]
		if r.ErrorDetail != nil {
			ps.NACKs[shortType(typ)] = fmt.Sprintf("version %s: %s", sub.sent, r.ErrorDetail.GetMessage())
			s.log.Warn("proxy rejected config", "node", st.node, "type", shortType(typ), "version", sub.sent, "error", r.ErrorDetail.GetMessage())
		} else {
			ps.Acked[shortType(typ)] = r.VersionInfo
			delete(ps.NACKs, shortType(typ))
		}
		s.mu.Unlock()
	}
	namesChanged := !sameNames(sub.names, r.ResourceNames)
	sub.names = append(sub.names[:0], r.ResourceNames...)
	res, _ := s.resourcesFor(st.node)
	if res == nil {
		return nil
	}
	// Send on a new subscription, a changed one, or a version the proxy
	// has not seen; never resend the version it just NACKed.
	if r.ResponseNonce == "" || namesChanged || (r.ErrorDetail == nil && r.VersionInfo != res.Version && sub.sent != res.Version) {
		return st.push(typ, sub, res)
	}
	return nil
}

func (st *stream) pushAll(res *Resources) error {
	if res == nil {
		return nil
	}
	// CDS, then EDS, then RDS: a route never names a cluster the proxy has
	// not been sent yet (xDS's make-before-break order).
	for _, typ := range []string{ClusterType, EndpointType, RouteType} {
		sub := st.subs[typ]
		if sub != nil && sub.sent != res.Version {
			if err := st.push(typ, sub, res); err != nil {
				return err
			}
		}
	}
	return nil
}

func (st *stream) push(typ string, sub *subscription, res *Resources) error {
	st.nonce++
	sub.nonce = strconv.FormatInt(st.nonce, 10)
	sub.sent = res.Version
	st.srv.mu.Lock()
	if ps := st.srv.status[st]; ps != nil {
		ps.Version = res.Version
	}
	st.srv.mu.Unlock()
	return st.grpc.Send(&discoveryv3.DiscoveryResponse{
		VersionInfo: res.Version,
		TypeUrl:     typ,
		Nonce:       sub.nonce,
		Resources:   res.pick(typ, sub.names),
	})
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func shortType(t string) string {
	switch t {
	case ClusterType:
		return "CDS"
	case EndpointType:
		return "EDS"
	case RouteType:
		return "RDS"
	}
	return t
}

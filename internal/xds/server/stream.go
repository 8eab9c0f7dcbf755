package server

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
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
	on      bool // the proxy has asked for this type
	names   []string
	nonce   string
	sent    string // version last sent
	waiting bool   // the response with nonce has not been answered yet
}

// stream is one sidecar's ADS stream. Its only goroutine is the one gRPC
// runs the handler on, which receives (and answers); config changes are
// sent by push workers (push.go), so an idle stream costs one goroutine
// however many there are (tens of thousands per control plane).
type stream struct {
	srv  *Server
	grpc grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	node string // set by the handler before the stream is registered, then fixed
	// hooked records that OnConnect ran, so OnDisconnect runs once.
	hooked bool

	queued bool // in Server.pushes; guarded by Server.qmu

	// mu serialises Send (gRPC allows one sender at a time) and the
	// fields below between the handler and the push workers.
	mu      sync.Mutex
	closed  bool // the handler is returning: send nothing more
	pending bool // a config change awaits the proxy's answers to go out
	subs    [numTypes]subscription
	nonce   uint64
	px      proxylessState // proxyless gRPC clients (proxyless.go)

	// statusMu guards status apart from mu, so Proxies never waits behind
	// a Send blocked on a slow proxy.
	statusMu sync.Mutex
	status   streamStatus
}

type streamStatus struct {
	connected time.Time
	// lastPush is when a response last went out, lastAnswer when the
	// proxy last ACKed or NACKed one.
	lastPush, lastAnswer time.Time
	version              string
	pushed               [numTypes]string
	acked                [numTypes]string
	nack                 [numTypes]string
	missing              [numTypes][]string // names asked for and not in the last push
}

// StreamAggregatedResources serves one sidecar's ADS stream.
func (s *Server) StreamAggregatedResources(g grpc.BidiStreamingServer[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]) error {
	s.count.streams.Add(1)
	defer s.count.streams.Add(-1)
	st := &stream{srv: s, grpc: g}
	defer st.close()
	for {
		r, err := g.Recv()
		if errors.Is(err, io.EOF) || status.Code(err) == codes.Canceled {
			return nil
		}
		if err != nil {
			return fmt.Errorf("xds: receive from %q: %w", st.node, err)
		}
		if err := st.handle(r); err != nil {
			return err
		}
	}
}

// close unregisters the stream and waits out a worker's Send, so nothing
// sends on it once the handler has returned (gRPC forbids that).
func (st *stream) close() {
	s := st.srv
	s.mu.Lock()
	if _, ok := s.streams[st]; ok {
		delete(s.streams, st)
		s.count.proxies.Add(-1)
	}
	s.mu.Unlock()
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	if st.hooked && s.hooks.OnDisconnect != nil {
		s.hooks.OnDisconnect(st.node)
	}
}

// register makes the stream known once its node is: from then on, Set
// wakes it.
func (st *stream) register(node string) {
	s := st.srv
	st.node = node
	st.statusMu.Lock()
	st.status.connected = time.Now()
	st.statusMu.Unlock()
	s.mu.Lock()
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	s.count.proxies.Add(1)
	s.log.Info("proxy connected", "node", node)
}

func (st *stream) handle(r *discoveryv3.DiscoveryRequest) error {
	s := st.srv
	s.count.requests.Add(1)
	if st.node == "" {
		if r.GetNode().GetId() == "" {
			return status.Error(codes.InvalidArgument, errNoNode.Error())
		}
		if s.hooks.Authorize != nil {
			if err := s.hooks.Authorize(st.grpc.Context(), r.Node.Id); err != nil {
				s.log.Warn("stream refused", "node", r.Node.Id, "err", err)
				return status.Error(codes.PermissionDenied, err.Error())
			}
		}
		if s.hooks.OnConnect != nil {
			s.hooks.OnConnect(r.Node.Id, declaredServices(r.Node))
			st.hooked = true
		}
		st.register(r.Node.Id)
	}
	t := typeIndex(r.GetTypeUrl())
	if t < 0 {
		return status.Errorf(codes.InvalidArgument, "xds: unsupported type %q", r.GetTypeUrl())
	}
	if len(r.ResourceNames) > maxNames {
		return status.Errorf(codes.InvalidArgument, "xds: more than %d resource names", maxNames)
	}
	st.observeListeners(t, r)
	st.mu.Lock()
	defer st.mu.Unlock()
	sub := &st.subs[t]
	sub.on = true
	if r.ResponseNonce != "" && r.ResponseNonce != sub.nonce {
		return nil // answers an older response; a newer one is in flight
	}
	if r.ResponseNonce != "" {
		sub.waiting = false
		st.recordAck(t, r)
	}
	res := s.resourcesFor(st.node)
	namesChanged := !equalStrings(sub.names, r.ResourceNames)
	if namesChanged {
		sub.names = st.keepNames(res, t, r.ResourceNames)
	}
	if res == nil || st.holding(t) {
		return nil
	}
	// Answer a new subscription, or a changed one, at once: the proxy is
	// waiting for it. A version the proxy has not seen goes out with the
	// rest of its change, in push order; never resend one it just NACKed.
	if r.ResponseNonce == "" || namesChanged {
		if err := st.send(t, res); err != nil {
			return err
		}
	} else if r.ErrorDetail == nil && r.VersionInfo != res.types[t].version && sub.sent != res.types[t].version {
		st.pending = true
	}
	// A change the workers left to this loop goes out once the proxy has
	// answered everything in flight.
	if st.pending && st.awaiting() == 0 {
		return st.pushAll()
	}
	return nil
}

// keepNames stores a subscription's names. A proxy usually names every
// resource of the type (EDS for all its clusters): then the stream shares
// the config's own sorted list instead of keeping the request's strings,
// which would cost every stream a few KB.
func (st *stream) keepNames(res *Resources, t int, names []string) []string {
	if res != nil && equalStrings(names, res.types[t].names) {
		return res.types[t].names
	}
	return slices.Clone(names)
}

func (st *stream) recordAck(t int, r *discoveryv3.DiscoveryRequest) {
	s := st.srv
	sent := st.subs[t].sent
	st.statusMu.Lock()
	defer st.statusMu.Unlock()
	st.status.lastAnswer = time.Now()
	if r.ErrorDetail != nil {
		s.count.nacks.Add(1)
		st.status.nack[t] = fmt.Sprintf("version %s: %s", sent, r.ErrorDetail.GetMessage())
		s.log.Warn("proxy rejected config", "node", st.node, "type", shortTypes[t], "version", sent, "error", r.ErrorDetail.GetMessage())
		return
	}
	st.status.acked[t] = r.VersionInfo
	st.status.nack[t] = ""
}

// awaiting counts the responses the proxy has not answered; st.mu is held.
func (st *stream) awaiting() int {
	n := 0
	for t := range numTypes {
		if st.subs[t].waiting {
			n++
		}
	}
	return n
}

// pushAll sends every subscribed type whose version changed, in push
// order. It reads the config when it sends, not when the change was
// announced, so a burst of changes costs one push of the newest and an
// older one never overtakes it. st.mu is held.
func (st *stream) pushAll() error {
	st.pending = false
	res := st.srv.resourcesFor(st.node)
	if res == nil {
		return nil
	}
	for t := range numTypes {
		if st.subs[t].on && st.subs[t].sent != res.types[t].version && !st.holding(t) {
			if err := st.send(t, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// send pushes type t of res; st.mu is held.
func (st *stream) send(t int, res *Resources) error {
	sub := &st.subs[t]
	ts := res.types[t]
	st.nonce++
	sub.nonce = strconv.FormatUint(st.nonce, 10)
	sub.sent = ts.version
	sub.waiting = true
	missing := ts.missing(sub.names)
	st.statusMu.Lock()
	st.status.version = res.Version
	st.status.lastPush = time.Now()
	st.status.pushed[t] = ts.version
	st.status.missing[t] = missing
	st.statusMu.Unlock()
	st.srv.count.responses.Add(1)
	if err := st.grpc.Send(ts.response(t, sub.names, sub.nonce)); err != nil {
		return fmt.Errorf("xds: send %s to %q: %w", shortTypes[t], st.node, err)
	}
	return nil
}

func (st *stream) proxyStatus() ProxyStatus {
	st.statusMu.Lock()
	defer st.statusMu.Unlock()
	p := ProxyStatus{Node: st.node, Connected: st.status.connected, Version: st.status.version, LastPush: st.status.lastPush, LastAnswer: st.status.lastAnswer,
		Pushed: map[string]string{}, Acked: map[string]string{}, NACKs: map[string]string{}, Missing: map[string][]string{}}
	for t := range numTypes {
		if v := st.status.pushed[t]; v != "" {
			p.Pushed[shortTypes[t]] = v
		}
		if v := st.status.acked[t]; v != "" {
			p.Acked[shortTypes[t]] = v
		}
		if v := st.status.nack[t]; v != "" {
			p.NACKs[shortTypes[t]] = v
		}
		if v := st.status.missing[t]; len(v) > 0 {
			p.Missing[shortTypes[t]] = v // never modified once stored
		}
	}
	return p
}

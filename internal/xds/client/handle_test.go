package client

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// sent is what handle answered, in order.
type sent struct {
	typ, version, nonce string
	names               []string
	nack                string
}

// harness drives Client.handle without a stream, to check exactly what is
// answered to each response.
type harness struct {
	t     *testing.T
	c     *Client
	st    *state
	sent  []sent
	nonce int
}

func newHarness(t *testing.T, apply func(Update) error) *harness {
	c, err := New(Config{Node: "n", Servers: []string{"unused:1"}, Apply: apply, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, c: c, st: newState()}
}

// push hands handle a response of typ holding msgs and returns what it
// answered.
func (h *harness) push(typ, version string, msgs ...proto.Message) []sent {
	h.t.Helper()
	h.nonce++
	r := response{version: version, typeURL: typ, nonce: string(rune('a' + h.nonce))}
	for _, m := range msgs {
		a, err := anypb.New(m)
		if err != nil {
			h.t.Fatal(err)
		}
		r.resources = append(r.resources, a)
	}
	start := len(h.sent)
	err := h.c.handle(h.st, &r, func(typ string, nack error) error {
		s := sent{typ: typ, version: h.st.accepted[typ], nonce: h.st.nonce[typ], names: h.st.names(typ)}
		if nack != nil {
			s.nack = nack.Error()
		}
		h.sent = append(h.sent, s)
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return h.sent[start:]
}

func TestHandleAcksNacksAndRollsBack(t *testing.T) {
	var applied []Update
	refuse := ""
	h := newHarness(t, func(u Update) error {
		if u.Version == refuse {
			return errors.New("refused")
		}
		applied = append(applied, u)
		return nil
	})
	obs := &nackCounter{}
	h.c.cfg.Observer = obs
	snap := meshSnapshot(t)
	var clusters, endpoints []proto.Message
	for _, c := range snap.Clusters {
		clusters = append(clusters, c)
	}
	for _, e := range snap.Endpoints {
		endpoints = append(endpoints, e)
	}

	// CDS first: ACKed, and EDS asked for by the clusters' names; nothing
	// applied while endpoints and routes are missing.
	got := h.push(clusterType, "1", clusters...)
	if len(got) != 2 || got[0].typ != endpointType || len(got[0].names) != len(snap.Clusters) || got[1].typ != clusterType || got[1].version != "1" || got[1].nack != "" {
		t.Fatalf("after CDS: %+v", got)
	}
	h.push(endpointType, "1", endpoints...)
	if len(applied) != 0 {
		t.Fatal("applied without routes")
	}
	got = h.push(routeType, "1", snap.Routes[0])
	if len(applied) != 1 || applied[0].Version != "1" || got[len(got)-1].version != "1" {
		t.Fatalf("after RDS: applied %d, answered %+v", len(applied), got)
	}
	sameAsToProxy(t, applied[0], snap)

	// A listener push is ACKed and changes nothing.
	got = h.push("type.googleapis.com/envoy.config.listener.v3.Listener", "1")
	if len(got) != 1 || got[0].nack != "" || got[0].version != "1" || len(applied) != 1 {
		t.Fatalf("LDS answered %+v", got)
	}

	// A cluster that does not decode: NACKed at the last accepted version,
	// with the error, and the state keeps v1's clusters.
	bad := proto.Clone(snap.Clusters[0]).(*clusterv3.Cluster)
	bad.LbPolicy = clusterv3.Cluster_RANDOM
	got = h.push(clusterType, "2", bad)
	if len(got) != 1 || got[0].typ != clusterType || got[0].version != "1" || !strings.Contains(got[0].nack, "not supported") {
		t.Fatalf("bad CDS answered %+v", got)
	}
	if len(h.st.clusters) != len(snap.Clusters) || h.st.version[clusterType] != "1" {
		t.Fatalf("bad CDS leaked into the state: %d clusters, version %q", len(h.st.clusters), h.st.version[clusterType])
	}

	// A route push the sidecar refuses: NACKed, and the routes roll back.
	refuse = "3" // the update carries the newest type version: this RDS push
	empty := proto.Clone(snap.Routes[0])
	empty.ProtoReflect().Clear(empty.ProtoReflect().Descriptor().Fields().ByName("virtual_hosts"))
	got = h.push(routeType, "3", empty)
	if len(got) != 1 || got[0].nack == "" || got[0].version != "1" {
		t.Fatalf("refused RDS answered %+v", got)
	}
	if len(h.st.routes.VirtualHosts) == 0 {
		t.Fatal("refused routes kept")
	}
	// The observer heard both NACKs, by type (the sidecar's weft_xds_nacks_total).
	if obs.byType[clusterType] != 1 || obs.byType[routeType] != 1 || len(obs.byType) != 2 {
		t.Errorf("observer heard NACKs %v, want one CDS and one RDS", obs.byType)
	}

	// The next good push applies on top of v1, not of the refused routes,
	// and ACKs every type.
	refuse = ""
	got = h.push(clusterType, "4", clusters...)
	if u := applied[len(applied)-1]; u.Version != "4" || len(u.Routes.VirtualHosts) != len(snap.Routes[0].VirtualHosts) {
		t.Fatalf("v4 applied %+v", u)
	}
	for _, s := range got {
		if s.nack != "" {
			t.Fatalf("v4 answered with a NACK: %+v", got)
		}
	}
	if h.st.accepted[clusterType] != "4" || h.st.accepted[routeType] != "1" {
		t.Fatalf("accepted %v", h.st.accepted)
	}
}

// nackCounter is an Observer that counts NACKs by type.
type nackCounter struct{ byType map[string]int }

func (n *nackCounter) StreamUp(string)   {}
func (n *nackCounter) StreamDown(string) {}
func (n *nackCounter) Nacked(typ string) {
	if n.byType == nil {
		n.byType = map[string]int{}
	}
	n.byType[typ]++
}

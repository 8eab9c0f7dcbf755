package server

import (
	"testing"
	"time"

	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/google/go-cmp/cmp"
)

// A named subscriber that asks for a cluster and a listener the config
// does not hold is told so in its status, until they exist.
func TestMissingNamesInStatus(t *testing.T) {
	srv, s := start(t, true)
	res, err := Marshal("1", snapshot("a", "b"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(res)
	ask := map[string][]string{ClusterType: {"nosuch", "a", "nosuch"}, ListenerType: {"xds:///catalog"}}
	for _, typ := range []string{ClusterType, ListenerType} {
		if err := s.Send(&discoveryv3.DiscoveryRequest{Node: node, TypeUrl: typ, ResourceNames: ask[typ]}); err != nil {
			t.Fatal(err)
		}
	}
	recvTypes(t, s, 2, ask)
	want := map[string][]string{"CDS": {"nosuch"}, "LDS": {"xds:///catalog"}}
	waitStatus(t, srv, "missing names", func(p ProxyStatus) bool { return p.Synced() && cmp.Equal(p.Missing, want) })

	// Once the config holds them, nothing is missing.
	snap := snapshot("a", "b", "nosuch")
	snap.Listeners[0].Name = "xds:///catalog"
	res2, err := MarshalFrom(res, "2", snap)
	if err != nil {
		t.Fatal(err)
	}
	srv.Set(res2)
	recvTypes(t, s, 2, ask)
	waitStatus(t, srv, "nothing missing", func(p ProxyStatus) bool { return p.Synced() && len(p.Missing) == 0 })
}

func waitStatus(t *testing.T, srv *Server, what string, ok func(ProxyStatus) bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ps := srv.Proxies()
		if len(ps) == 1 && ok(ps[0]) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status never showed %s: %+v", what, ps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

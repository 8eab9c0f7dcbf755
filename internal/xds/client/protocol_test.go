package client

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/proxy/cluster"
	"github.com/weft-mesh/weft/internal/proxy/route"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// What translate says of a TCP Service and of an invalid backendRef
// reaches the proxy's config: the cluster speaks TCP, and a rule whose
// backend is missing answers 500.
func TestTCPMarkerAndMissingBackendDecode(t *testing.T) {
	rs, err := mesh.Decode([]byte(`[
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "db"}, "spec": {"ports": [{"port": 5432, "protocol": "tcp"}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}},
 {"apiVersion": "weft.dev/v1alpha1", "kind": "HTTPRoute", "metadata": {"name": "web"},
  "spec": {"parentRefs": [{"name": "web"}], "rules": [{"backendRefs": [{"name": "ghost", "weight": 1}, {"name": "web", "weight": 1}]}]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	snap, err := translate.Translate(translate.Input{Resources: rs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	protos := map[string]cluster.Protocol{}
	for _, c := range snap.Clusters {
		cc, err := decodeCluster(marshal(t, c))
		if err != nil {
			t.Fatalf("cluster %s: %v", c.Name, err)
		}
		protos[cc.Name] = cc.Protocol
	}
	if protos["db.default"] != cluster.TCP || protos["web.default"] != cluster.Auto {
		t.Errorf("protocols %v, want db.default TCP and web.default Auto (each request keeps its HTTP version)", protos)
	}
	_, rc, err := decodeRoutes(marshal(t, snap.Routes[0]))
	if err != nil {
		t.Fatal(err)
	}
	var split *route.Route
	for i := range rc.VirtualHosts {
		for j := range rc.VirtualHosts[i].Routes {
			if r := &rc.VirtualHosts[i].Routes[j]; len(r.Backends) == 2 {
				split = r
			}
		}
	}
	if split == nil || split.MissingStatus() != 500 || split.Backends[0].Cluster != "ghost.default" {
		t.Fatalf("weighted rule with a missing backend decoded as %+v", split)
	}
}

// A protocol marker Weft does not know is refused, not taken for HTTP.
func TestUnknownProtocolMarkerRefused(t *testing.T) {
	_, err := tcpMarked(envoypbMetadata(t, "quic"))
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err %v, want unsupported", err)
	}
}

func envoypbMetadata(t *testing.T, protocol string) *envoypb.Metadata {
	t.Helper()
	st, err := structpb.NewStruct(map[string]any{"protocol": protocol})
	if err != nil {
		t.Fatal(err)
	}
	return &envoypb.Metadata{FilterMetadata: map[string]*structpb.Struct{"weft": st}}
}

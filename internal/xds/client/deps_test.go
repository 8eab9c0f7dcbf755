package client

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// goList lists the packages of a go list query, one per line.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(string(out))
}

// The point of this package is what it does not link: go-control-plane's
// Envoy types, whose descriptor registration costs the sidecar its memory
// budget, nor the control plane's packages, nor grpc-go, which costs it
// about 3 MB more for one stream (the transport is our own, over
// net/http's HTTP/2). It decodes through envoypb's small generated types.
// internal/archtest holds the whole data-plane set to the same rule.
func TestDependencies(t *testing.T) {
	const self = "github.com/weft-mesh/weft/internal/xds/client"
	deps := goList(t, "-deps", self)
	forbidden := []string{
		"github.com/envoyproxy/", "github.com/cncf/xds", "go.etcd.io/", "github.com/planetscale/vtprotobuf",
		"google.golang.org/grpc", "google.golang.org/genproto",
		"github.com/weft-mesh/weft/internal/xds/server", "github.com/weft-mesh/weft/internal/xds/translate",
		"github.com/weft-mesh/weft/internal/xds/xdstest", "github.com/weft-mesh/weft/internal/store",
		"github.com/weft-mesh/weft/internal/mesh", "github.com/weft-mesh/weft/internal/registry",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("xds/client depends on %s", d)
			}
		}
	}
	for _, want := range []string{"net/http", "github.com/weft-mesh/weft/internal/xds/envoypb"} {
		if !slices.Contains(deps, want) {
			t.Errorf("xds/client no longer depends on %s; update this test", want)
		}
	}
	if len(deps) < 10 {
		t.Fatalf("go list found only %d dependencies", len(deps))
	}
}

package lean

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

// The point of this package is what it does not link: Envoy's generated
// types, whose descriptor registration costs the sidecar its memory
// budget, nor the control plane's packages, nor grpc-go and the protobuf
// runtime, which cost it about 3 MB more for one stream (the transport is
// our own, over x/net/http2). Of protobuf, only protowire is allowed.
func TestDependencies(t *testing.T) {
	const self = "github.com/weft-mesh/weft/internal/xds/lean"
	deps := goList(t, "-deps", self)
	forbidden := []string{
		"github.com/envoyproxy/", "github.com/cncf/xds", "go.etcd.io/", "github.com/planetscale/vtprotobuf",
		"google.golang.org/grpc", "google.golang.org/genproto",
		"github.com/weft-mesh/weft/internal/xds/server", "github.com/weft-mesh/weft/internal/xds/translate",
		"github.com/weft-mesh/weft/internal/xds/client", "github.com/weft-mesh/weft/internal/store",
		"github.com/weft-mesh/weft/internal/mesh", "github.com/weft-mesh/weft/internal/registry",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if strings.HasPrefix(d, f) {
				t.Errorf("lean depends on %s", d)
			}
		}
	}
	// Protobuf packages are allowed only as protowire or its own
	// dependencies: never proto, protoreflect or the runtime.
	allowed := map[string]bool{}
	for _, d := range goList(t, "-deps", "google.golang.org/protobuf/encoding/protowire") {
		allowed[d] = true
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "google.golang.org/protobuf/") && !allowed[d] {
			t.Errorf("lean depends on protobuf package %s; only protowire is allowed", d)
		}
	}
	if !slices.Contains(deps, "golang.org/x/net/http2") {
		t.Errorf("lean no longer depends on golang.org/x/net/http2; update this test with the transport")
	}
	if len(deps) < 10 {
		t.Fatalf("go list found only %d dependencies", len(deps))
	}
}

package lean

import (
	"os/exec"
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
// budget, nor the control plane's packages. grpc itself pulls in
// protobuf's runtime (its proto codec and status types), which is an
// accepted ~2 MB; lean must add no protobuf package beyond protowire.
func TestDependencies(t *testing.T) {
	const self = "github.com/weft-mesh/weft/internal/xds/lean"
	deps := goList(t, "-deps", self)
	forbidden := []string{
		"github.com/envoyproxy/", "github.com/cncf/xds", "go.etcd.io/", "github.com/planetscale/vtprotobuf",
		"github.com/weft-mesh/weft/internal/xds/server", "github.com/weft-mesh/weft/internal/xds/translate",
		"github.com/weft-mesh/weft/internal/xds/client", "github.com/weft-mesh/weft/internal/store",
		"github.com/weft-mesh/weft/internal/mesh", "github.com/weft-mesh/weft/internal/registry",
	}
	for _, d := range deps {
		for _, f := range forbidden {
			if d == f || strings.HasPrefix(d, f) {
				t.Errorf("lean depends on %s", d)
			}
		}
	}
	// Protobuf packages are allowed only as grpc's own dependencies or
	// protowire's.
	allowed := map[string]bool{}
	for _, d := range goList(t, "-deps", "google.golang.org/grpc", "google.golang.org/protobuf/encoding/protowire") {
		allowed[d] = true
	}
	for _, d := range deps {
		if strings.HasPrefix(d, "google.golang.org/protobuf/") && !allowed[d] {
			t.Errorf("lean adds protobuf package %s beyond grpc's", d)
		}
	}
	for _, imp := range goList(t, "-f", `{{join .Imports " "}}`, self) {
		if strings.HasPrefix(imp, "google.golang.org/protobuf/") && imp != "google.golang.org/protobuf/encoding/protowire" ||
			strings.HasPrefix(imp, "google.golang.org/genproto/") {
			t.Errorf("lean imports %s; only protowire is allowed", imp)
		}
	}
	if len(deps) < 10 {
		t.Fatalf("go list found only %d dependencies", len(deps))
	}
}

package archtest

import (
	"strings"
	"testing"
)

// dataPlane is the set DESIGN.md rule 3 covers: the proxy, the sidecar
// that composes it, and the sidecar's xDS client with the generated types
// it decodes through.
var dataPlane = []string{"internal/proxy", "internal/sidecar", "internal/xds/client", "internal/xds/envoypb"}

// notDataPlane is what the data-plane set must never reach, transitively:
// the control plane's packages and the heavy dependencies only it needs.
var notDataPlane = []struct{ prefix, why string }{
	{mod + "internal/store", "the control plane's store"},
	{mod + "internal/registry", "the control plane's registry"},
	{mod + "internal/xds/translate", "the control plane's translator"},
	{mod + "internal/xds/server", "the control plane's xDS server"},
	{mod + "internal/xds/xdstest", "the test-only xDS oracle"},
	{mod + "internal/controlplane", "the control plane"},
	{mod + "internal/ca", "the control plane's CA"},
	{"go.etcd.io/", "etcd"},
	{"google.golang.org/grpc", "grpc-go"},
	{"github.com/envoyproxy/go-control-plane", "go-control-plane"},
	{"github.com/cncf/xds", "go-control-plane's xds types"},
}

// Rule 3: the data plane reaches the control plane only through its named
// doors (api, api/client, the xDS bytes), never by linking it.
func TestDataPlaneBoundary(t *testing.T) {
	found := map[string]bool{}
	for _, p := range listPackages(t) {
		root := ""
		for _, dp := range dataPlane {
			if under(p.ImportPath, dp) {
				root = dp
			}
		}
		if root == "" {
			continue
		}
		found[root] = true
		for _, d := range p.Deps {
			for _, f := range notDataPlane {
				if d == f.prefix || strings.HasPrefix(d, f.prefix+"/") || (strings.HasSuffix(f.prefix, "/") && strings.HasPrefix(d, f.prefix)) {
					t.Errorf("%s depends on %s, %s (DESIGN.md rule 3)", p.ImportPath, d, f.why)
				}
			}
		}
	}
	for _, dp := range dataPlane {
		if !found[dp] {
			t.Errorf("data-plane package %s not found; update this test", dp)
		}
	}
}

// Rule 5: go-control-plane's types stay in the translator, the server and
// the test-only oracle; and only tests import the oracle.
func TestGoControlPlaneHome(t *testing.T) {
	homes := []string{"internal/xds/translate", "internal/xds/server", "internal/xds/xdstest"}
	for _, p := range listPackages(t) {
		home := false
		for _, h := range homes {
			home = home || under(p.ImportPath, h)
		}
		for _, imp := range p.Imports {
			if strings.HasPrefix(imp, "github.com/envoyproxy/go-control-plane") && !home {
				t.Errorf("%s imports %s, which belongs in %v only (DESIGN.md rule 5)", p.ImportPath, imp, homes)
			}
			if under(imp, "internal/xds/xdstest") {
				t.Errorf("%s imports the test-only internal/xds/xdstest outside its tests", p.ImportPath)
			}
		}
	}
}

//go:build !proxyonly

package cli

import (
	"bytes"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/api"
)

// A proxy that asked for what the mesh lacks shows it, in the table and
// in -o yaml.
func TestPrintProxiesMissing(t *testing.T) {
	ps := []api.Proxy{{Node: "grpc-client", Version: "3.4", State: api.Missing, Acked: map[string]string{"CDS": "3.4"},
		Missing: map[string][]string{"CDS": {"nosuch.default"}, "LDS": {"xds:///nosuch"}}}}
	var table, yml bytes.Buffer
	if err := printProxies(&table, ps, ""); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(table.String(), "MISSING") || !strings.Contains(table.String(), "missing CDS nosuch.default; LDS xds:///nosuch") {
		t.Errorf("table:\n%s", table.String())
	}
	if err := printProxies(&yml, ps, "yaml"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(yml.String(), "missing:") || !strings.Contains(yml.String(), "- nosuch.default") {
		t.Errorf("yaml:\n%s", yml.String())
	}
}

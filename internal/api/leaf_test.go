package api_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The sidecar imports api to register; whatever api links, every sidecar
// links and initialises, so it stays standard library only (DESIGN.md,
// import rule 3).
func TestStdlibOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "github.com/weft-mesh/weft/internal/api").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/weft-mesh/weft/internal/api" {
			t.Errorf("internal/api depends on %s; it must stay a leaf (wire types only)", p)
		}
	}
}

package archtest

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/weft-mesh/weft/"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-json", "github.com/weft-mesh/weft/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []pkg
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	if len(pkgs) < 5 {
		t.Fatalf("go list found only %d packages", len(pkgs))
	}
	return pkgs
}

func under(path, prefix string) bool {
	p := mod + prefix
	return path == p || strings.HasPrefix(path, p+"/")
}

func TestImportRules(t *testing.T) {
	roots := []string{"internal/cli", "internal/sidecar", "internal/controlplane", "internal/dashboard"}
	// Who may import a composition root: main imports cli, cli starts the
	// others, the control plane serves the dashboard, and the harnesses wire
	// whole processes together.
	rootImporters := map[string][]string{
		"internal/cli":          {"cmd/weft"},
		"internal/sidecar":      {"internal/cli", "internal/meshtest", "test/e2e"},
		"internal/controlplane": {"internal/cli", "internal/meshtest", "test/e2e"},
		"internal/dashboard":    {"internal/controlplane"},
	}
	// The planes share telemetry (DESIGN.md rule 3); what telemetry pulls in
	// (client_golang, and protobuf beneath it) is not the proxy's own import.
	shared := map[string]bool{}
	for _, p := range listPackages(t) {
		if p.ImportPath == mod+"internal/telemetry" {
			for _, d := range p.Deps {
				shared[d] = true
			}
		}
	}
	if len(shared) == 0 {
		t.Fatal("internal/telemetry not found")
	}
	// xds/client is the sidecar's side of xDS: it may produce the proxy's
	// structs; the rest of xds/ is the control plane's.
	controlPlane := []string{"internal/controlplane", "internal/store", "internal/registry", "internal/xds/translate", "internal/xds/server", "internal/ca", "internal/api", "internal/mesh"}
	for _, p := range listPackages(t) {
		for _, root := range roots {
			if !containsUnder(p.Imports, root) || under(p.ImportPath, root) {
				continue
			}
			allowed := false
			for _, a := range rootImporters[root] {
				allowed = allowed || under(p.ImportPath, a)
			}
			if !allowed {
				t.Errorf("%s imports composition root %s (DESIGN.md rule 1)", p.ImportPath, root)
			}
		}
		if under(p.ImportPath, "internal/proxy") {
			for _, d := range p.Deps {
				if shared[d] {
					continue
				}
				if strings.Contains(d, "envoyproxy/go-control-plane") || strings.HasPrefix(d, "google.golang.org/protobuf") ||
					strings.HasPrefix(d, "go.etcd.io/") || strings.HasPrefix(d, "k8s.io/") || strings.HasPrefix(d, "google.golang.org/grpc") {
					t.Errorf("%s depends on %s (DESIGN.md rule 2: the proxy takes plain Go structs)", p.ImportPath, d)
				}
				for _, cp := range controlPlane {
					if under(d, cp) {
						t.Errorf("%s depends on control-plane package %s (DESIGN.md rule 2)", p.ImportPath, d)
					}
				}
			}
		}
		for _, cp := range controlPlane {
			if under(p.ImportPath, cp) && containsUnder(p.Deps, "internal/proxy") {
				t.Errorf("%s depends on internal/proxy (DESIGN.md rule 3)", p.ImportPath)
			}
		}
		for _, heavy := range []struct{ dep, home string }{
			{"go.etcd.io/etcd/client", "internal/store"},
			{"go.etcd.io/etcd/server", "internal/store"},
			{"github.com/spf13/cobra", "internal/cli"},
			{"k8s.io/client-go", "internal/registry"},
		} {
			for _, imp := range p.Imports {
				if strings.HasPrefix(imp, heavy.dep) && !under(p.ImportPath, heavy.home) {
					t.Errorf("%s imports %s, which belongs in %s only (DESIGN.md rule 4)", p.ImportPath, imp, heavy.home)
				}
			}
		}
	}
}

func containsUnder(paths []string, prefix string) bool {
	for _, p := range paths {
		if under(p, prefix) {
			return true
		}
	}
	return false
}

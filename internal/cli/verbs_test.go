//go:build !proxyonly

package cli

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/controlplane"
)

// startControl runs the real control plane (embedded etcd) on loopback
// and returns its API address.
func startControl(t *testing.T) string {
	t.Helper()
	return startControlAddrs(t).API
}

// startControlAddrs runs the real control plane and returns its addresses.
func startControlAddrs(t *testing.T) controlplane.Addrs {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan controlplane.Addrs, 1)
	done := make(chan error, 1)
	go func() {
		done <- controlplane.Run(ctx, controlplane.Config{
			DataDir: t.TempDir(), XDS: "127.0.0.1:0", API: "127.0.0.1:0", LeaseTTL: 2 * time.Second,
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a controlplane.Addrs) { ready <- a },
		})
	}()
	select {
	case a := <-ready:
		t.Cleanup(func() { cancel(); <-done })
		// The CLI finds the credentials the control plane wrote.
		t.Setenv("WEFT_TOKEN_FILE", a.OperatorTokenFile)
		t.Setenv("WEFT_CA_FILE", a.CAFile)
		return a
	case err := <-done:
		cancel()
		t.Fatalf("control plane did not start: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("control plane did not start in 30s")
	}
	return controlplane.Addrs{}
}

// weft runs one CLI command in-process and returns its exit code, stdout
// and stderr.
func weft(t *testing.T, server string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	args = append(args, "--server", server)
	code := Run(ctx, args, &out, &errb)
	return code, out.String(), errb.String()
}

func writeTempFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

const cliResources = `apiVersion: weft.dev/v1alpha1
kind: Service
metadata: {name: catalog}
spec:
  ports: [{port: 80}]
  subsets: [{name: v1, labels: {version: v1}}]
---
apiVersion: weft.dev/v1alpha1
kind: HTTPRoute
metadata: {name: catalog}
spec:
  parentRefs: [{name: catalog}]
  rules:
  - matches: [{path: {value: /ghost}}]
    backendRefs: [{name: ghost}]
  - matches: [{path: {value: /v9}}]
    backendRefs: [{name: catalog, subset: v9}]
  - backendRefs: [{name: catalog, subset: v1, weight: 100}]
`

// The CLI against a real control plane: a route to a missing Service or
// subset is reported ResolvedRefs=False (BackendNotFound), describe's YAML
// is intact, missing objects are "not found", and bad manifests are
// refused with file:line, resource and path for every problem.
func TestCLIAgainstControlPlane(t *testing.T) {
	server := startControl(t)
	code, out, errs := weft(t, server, "apply", "-f", writeTempFile(t, "mesh.yaml", cliResources))
	if code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errs)
	}

	t.Run("backend not found", func(t *testing.T) {
		_, out, _ := weft(t, server, "describe", "httproute", "catalog")
		for _, want := range []string{
			`ResolvedRefs  False   spec.rules[0].backendRefs[0].name: unknown Service "ghost"; spec.rules[1].backendRefs[0].subset: Service "catalog" has no subset "v9"`,
		} {
			if !strings.Contains(out, want) {
				t.Errorf("describe lacks %q:\n%s", want, out)
			}
		}
		_, out, _ = weft(t, server, "get", "routes", "catalog", "-o", "json")
		if !strings.Contains(out, `"reason": "BackendNotFound"`) {
			t.Errorf("ResolvedRefs reason is not BackendNotFound:\n%s", out)
		}
	})

	t.Run("describe yaml", func(t *testing.T) {
		_, out, _ := weft(t, server, "describe", "route", "catalog")
		_, spec, _ := strings.Cut(out, "\nSpec:\n")
		want := `  parentRefs:
    - kind: Service
      name: catalog
  rules:
    - backendRefs:
        - kind: Service
          name: ghost
          weight: 1
`
		if !strings.HasPrefix(spec, want) {
			t.Errorf("spec:\n%s\nwant it to start with:\n%s", spec, want)
		}
	})

	t.Run("not found", func(t *testing.T) {
		for _, verb := range []string{"describe", "delete", "get"} {
			code, _, errs := weft(t, server, verb, "service", "nosuch")
			if want := "weft " + verb + ": Service default/nosuch not found\n"; code != 1 || errs != want {
				t.Errorf("%s: exit %d, stderr %q, want %q", verb, code, errs, want)
			}
		}
	})

	t.Run("located errors", func(t *testing.T) {
		bad := "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec:\n  ports:\n  - port: eighty\n    protocl: http\n"
		code, _, errs := weft(t, server, "apply", "-f", writeTempFile(t, "catalog.yaml", bad))
		for _, want := range []string{
			`catalog.yaml:6: Service/default/catalog: spec.ports[0].port: must be an integer; got string "eighty"`,
			`catalog.yaml:7: Service/default/catalog: spec.ports[0].protocl: unknown field (did you mean "protocol"?)`,
		} {
			if code != 1 || !strings.Contains(errs, want) {
				t.Errorf("exit %d, stderr lacks %q:\n%s", code, want, errs)
			}
		}
	})
}

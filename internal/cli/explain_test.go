//go:build !proxyonly

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// explainJSON runs `weft explain -o json ARGS` and decodes the answer.
func explainJSON(t *testing.T, args ...string) sidecar.Explanation {
	t.Helper()
	code, out, errOut := weft(t, "127.0.0.1:1", append([]string{"explain", "-o", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("weft explain %v: exit %d: %s", args, code, errOut)
	}
	var e sidecar.Explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("weft explain %v: %v in %s", args, err, out)
	}
	return e
}

// inRotation lists the endpoint addresses of the matched rule's backends
// that get a share of its requests.
func inRotation(e sidecar.Explanation) map[string]bool {
	out := map[string]bool{}
	if e.Route == nil {
		return out
	}
	for _, b := range e.Route.Backends {
		if b.Percent == 0 {
			continue
		}
		for _, ep := range b.Endpoints {
			out[ep.Address] = true
		}
	}
	return out
}

// The explanation is what the sidecar does: for each request, the rule
// weft explain reports is the one whose backends answer the same request
// sent through the sidecar, a header-matched canary is reported as the
// match when the header is given, and the rules before the match say
// which condition failed.
func TestExplainMatchesWhatTheSidecarDoes(t *testing.T) {
	h1, p1 := backend(t, "v1")
	h2, p2 := backend(t, "v2")
	addrOf := map[string]string{"v1": fmt.Sprintf("%s:%d", h1, p1), "v2": fmt.Sprintf("%s:%d", h2, p2)}
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "catalog.yaml"), catalogResources(h1, p1, h2, p2, 100, 0))
	a, _ := runStandalone(t, &sidecar.Config{Node: "front", Admin: "127.0.0.1:0",
		Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0"}, Limits: sidecar.Limits{DrainTimeout: time.Second}}, dir)
	c := proxyClient(t, a.Proxy)

	tests := []struct {
		name, path string
		hdr        []string
		rule       int
		reasons    []string // of the rules before the match
	}{
		{"canary header", "/items", []string{"x-canary", "always"}, 0, nil},
		{"path", "/api//items", nil, 1, []string{`header x-canary: want = "always", request has none`}},
		{"weighted default", "/items", []string{"x-canary", "sometimes"}, 2, []string{
			`header x-canary: want = "always", request has "sometimes"`, "path: want prefix /api, request path is /items"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"--admin", a.Admin, "GET", "http://catalog" + tt.path}
			if tt.hdr != nil {
				args = append(args, "-H", tt.hdr[0]+": "+tt.hdr[1])
			}
			e := explainJSON(t, args...)
			if e.Node != "front" || e.VirtualHost == "" || e.Matched != tt.rule || e.Route == nil {
				t.Fatalf("node %q, virtual host %q, matched rule %d, want %d", e.Node, e.VirtualHost, e.Matched, tt.rule)
			}
			for i, want := range tt.reasons {
				if r := e.Rules[i]; r.Outcome != "no match" || r.Reason != want {
					t.Errorf("rule %d: %s (%s), want no match (%s)", i, r.Outcome, r.Reason, want)
				}
			}
			served := inRotation(e)
			for name, n := range counts(t, c, 20, "http://catalog"+tt.path, tt.hdr...) {
				if !served[addrOf[name]] {
					t.Errorf("%d requests answered by %s (%s); the explanation lists %v", n, name, addrOf[name], served)
				}
			}
		})
	}

	code, out, errOut := weft(t, "127.0.0.1:1", "explain", "--admin", a.Admin, "http://catalog/items", "-H", "X-Canary: always")
	if code != 0 {
		t.Fatalf("text: exit %d: %s", code, errOut)
	}
	for _, want := range []string{"Request:  GET http://catalog/items", "  0  ", "MATCH", "Endpoints of catalog.default/v2 (connect timeout 2s):", addrOf["v2"], "Timeout:  15s (from limits.requestTimeout)"} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
}

func TestExplainErrors(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	notAdmin := httptestServer(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unreachable", []string{"--admin", deadAddr, "http://catalog/"}, "sidecar admin " + deadAddr + " unreachable"},
		{"not an address", []string{"--admin", "nowhere", "http://catalog/"}, `admin address "nowhere": want host:port`},
		{"not a sidecar", []string{"--admin", notAdmin, "http://catalog/"}, notAdmin + " has no /explain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := weft(t, "127.0.0.1:1", append([]string{"explain"}, tt.args...)...)
			if code != 1 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, tt.want)
			}
		})
	}
	// The sidecar's refusal of a malformed URL reaches the user as it is.
	_, a := runSidecarQuick(t)
	code, _, errOut := weft(t, "127.0.0.1:1", "explain", "--admin", a.Admin, "http://catalog/%2f")
	if code != 1 || !strings.Contains(errOut, `path "/%2f": route: invalid path`) {
		t.Errorf("malformed url: exit %d, %q", code, errOut)
	}
	if code, _, _ := weft(t, "127.0.0.1:1", "explain", "http://catalog/"); code != 2 {
		t.Errorf("neither --admin nor --from: exit %d, want usage (2)", code)
	}
}

// --from finds a registered sidecar's admin address through the control
// plane, by node or by the service of its only node.
func TestExplainFromRegisteredNode(t *testing.T) {
	cp := startControlAddrs(t)
	h, p := backend(t, "app")
	svc := writeTempFile(t, "svc.yaml", head+"kind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n")
	if code, _, errOut := weft(t, cp.API, "apply", "-f", svc); code != 0 {
		t.Fatalf("apply: %s", errOut)
	}
	sc := runSidecarCfg(t, &sidecar.Config{Node: "catalog-a", Service: "catalog", Admin: "127.0.0.1:0",
		Inbound:      []sidecar.Inbound{{Name: "http", Listen: "127.0.0.1:0", App: fmt.Sprintf("%s:%d", h, p)}},
		Outbound:     sidecar.Outbound{Proxy: "127.0.0.1:0"},
		ControlPlane: &sidecar.ControlPlane{XDS: []string{cp.XDS}, API: []string{cp.API}, CAFile: cp.CAFile},
		Identity:     &sidecar.Identity{TokenFile: joinToken(t, cp.API, "catalog")},
		Register:     &sidecar.Registration{Probe: sidecar.Probe{HTTPPath: "/", Interval: 100 * time.Millisecond}},
		Limits:       sidecar.Limits{DrainTimeout: time.Second}})
	inbound := sc.Inbound["http"]
	// Registration and the xDS push that follows it take a moment.
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, out, errOut := weft(t, cp.API, "explain", "-o", "json", "--from", "catalog-a", "http://catalog/x")
		var e sidecar.Explanation
		if code == 0 && json.Unmarshal([]byte(out), &e) == nil && inRotation(e)[inbound] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("explain --from catalog-a never listed the registered instance %s: exit %d %s %s", inbound, code, out, errOut)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, out, errOut := weft(t, cp.API, "explain", "--from", "catalog", "http://catalog/x"); code != 0 || !strings.Contains(out, "Sidecar:  catalog-a") {
		t.Errorf("--from SERVICE: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut := weft(t, cp.API, "explain", "--from", "nope", "http://catalog/x"); code != 1 || !strings.Contains(errOut, "no registered instance has that node or service name (nodes: catalog-a)") {
		t.Errorf("--from unknown: exit %d %q", code, errOut)
	}
}

// joinToken makes a join token for service with weft token create.
func joinToken(t *testing.T, server, service string) string {
	t.Helper()
	code, out, errOut := weft(t, server, "token", "create", "--service", service)
	if code != 0 {
		t.Fatalf("token create: %s", errOut)
	}
	return writeTempFile(t, service+".token", out)
}

// runSidecarCfg runs cfg in this process until the test ends.
func runSidecarCfg(t *testing.T, cfg *sidecar.Config) sidecar.Addrs {
	t.Helper()
	ready := make(chan sidecar.Addrs, 1)
	sc, err := sidecar.New(cfg, sidecar.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: func(a sidecar.Addrs) { ready <- a }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	runErr := make(chan error, 1)
	go func() { runErr <- sc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-runErr; err != nil {
			t.Errorf("sidecar: %v", err)
		}
	})
	select {
	case a := <-ready:
		return a
	case err := <-runErr:
		t.Fatalf("sidecar: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("sidecar did not start")
	}
	return sidecar.Addrs{}
}

// runSidecarQuick runs a quick-mode sidecar (every host to one upstream).
func runSidecarQuick(t *testing.T) (string, sidecar.Addrs) {
	t.Helper()
	h, p := backend(t, "quick")
	up := fmt.Sprintf("%s:%d", h, p)
	return up, runSidecarCfg(t, &sidecar.Config{Node: "q", Admin: "127.0.0.1:0", Outbound: sidecar.Outbound{Proxy: "127.0.0.1:0"},
		Upstream: &sidecar.Upstream{Address: up}, Limits: sidecar.Limits{DrainTimeout: time.Second}})
}

// httptestServer is an HTTP server that is not a sidecar admin.
func httptestServer(t *testing.T) string {
	t.Helper()
	s := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(s.Close)
	return s.Listener.Addr().String()
}

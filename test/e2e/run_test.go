package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pyCatalog is a mesh-unaware Python app: it listens on $PORT and answers
// with its name and its caller's identity, as its sidecar proved it by
// mTLS and told it in X-Forwarded-Client-Cert (Envoy's format).
const pyCatalog = `
import os, http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        uri = "nobody"
        for part in self.headers.get("X-Forwarded-Client-Cert", "").split(";"):
            if part.startswith("URI="):
                uri = part[4:]
        b = ("catalog-v1 says hi to " + uri).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)
    def log_message(self, *a):
        pass
http.server.HTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
`

// nodeFrontend calls http://catalog/ N times through the proxy variable
// (Node 20's http ignores HTTP_PROXY, so it uses it by hand, as an agent
// would) and N times through $WEFT_UPSTREAM_CATALOG, prints the answers,
// then waits for stdin to close (so the test can read the sidecars'
// metrics) and exits with argv's code.
const nodeFrontend = `
const http = require('http');
const [n, code] = [Number(process.argv[1]), Number(process.argv[2])];
const proxy = new URL(process.env.HTTP_PROXY);
const [uh, up] = process.env.WEFT_UPSTREAM_CATALOG.split(':');
const get = (opts) => new Promise((res, rej) => {
  http.get(opts, r => { let b = ''; r.on('data', d => b += d); r.on('end', () => res(r.statusCode + ' ' + b)); }).on('error', rej);
});
(async () => {
  for (let i = 0; i < n; i++) {
    console.log('via proxy: ' + await get({host: proxy.hostname, port: proxy.port, path: 'http://catalog/', headers: {host: 'catalog'}, agent: false}));
    console.log('via port: ' + await get({host: uh, port: up, path: '/', agent: false}));
  }
  console.log('done');
  process.stdin.on('end', () => process.exit(code));
  process.stdin.resume();
})().catch(e => { console.error('frontend failed: ' + e); process.exit(9); });
`

func TestRunMeshesPythonAndNode(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if out, ok := weft(t, c.api, "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n", "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	// weft run finds the operator token and CA by flag (as the CLI does)
	// and makes its sidecar's join token itself.
	cp := []string{"--control", c.api, "--xds", c.xds, "--probe-interval", "100ms",
		"--token-file", filepath.Join(c.creds, "operator.token"), "--ca-file", filepath.Join(c.creds, "ca.pem")}
	catAdmin := freePort(t)
	start(t, "weft run catalog", append(append([]string{bin.weft, "run"}, cp...),
		"--admin", catAdmin, "--service", "catalog", "--version", "v1", "--id", "catalog-1", "--", "python3", "-c", pyCatalog)...)
	eventually(t, 15*time.Second, "catalog-1 registered ready with version=v1", func() bool {
		in, ok := instance(t, c.api, "catalog", "catalog-1")
		return ok && in.Ready && in.Labels["version"] == "v1"
	})

	t.Run("node frontend through both sidecars", func(t *testing.T) {
		if _, err := exec.LookPath("node"); err != nil {
			t.Skip("node is not installed: skipping the Node frontend (install Node.js to run this part)")
		}
		const n = 5
		feAdmin := freePort(t)
		cmd := exec.Command(bin.weft, append(append([]string{"run"}, cp...),
			"--admin", feAdmin, "--service", "frontend", "--id", "frontend-1", "--upstream", "catalog",
			"--", "node", "-e", nodeFrontend, strconv.Itoa(n), "0")...)
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		p := &proc{name: "weft run frontend", cmd: cmd, done: make(chan struct{})}
		cmd.Stdout, cmd.Stderr = p, p
		cmd.WaitDelay = 5 * time.Second // bounds Wait if the app outlived a killed weft run
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() { p.err = cmd.Wait(); close(p.done) }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			<-p.done
			if t.Failed() {
				t.Logf("--- %s output ---\n%s", p.name, p.output())
			}
		})
		eventually(t, 15*time.Second, "the Node program's calls", func() bool { return strings.Contains(p.output(), "done\n") })
		out := p.output()
		for _, via := range []string{"via proxy", "via port"} {
			// The callee's view of its caller: the frontend's SPIFFE ID,
			// which only the frontend's sidecar could have proved.
			if got := strings.Count(out, via+": 200 catalog-v1 says hi to spiffe://weft.local/ns/default/sa/frontend\n"); got != n {
				t.Fatalf("%s: %d of %d answers came from the Python catalog:\n%s", via, got, n, out)
			}
		}
		// Every call crossed the frontend's sidecar outbound and the
		// catalog's inbound: counted on each side while both run.
		if got := requestsTotal(t, feAdmin, "outbound", "catalog.default"); got < 2*n {
			t.Fatalf("frontend sidecar counted %d outbound requests to catalog, want >= %d", got, 2*n)
		}
		if got := requestsTotal(t, catAdmin, "inbound", ""); got < 2*n {
			t.Fatalf("catalog sidecar counted %d inbound requests, want >= %d", got, 2*n)
		}
		if _, ok := instance(t, c.api, "frontend", "frontend-1"); !ok {
			t.Fatal("frontend-1 not registered while it runs")
		}
		stdin.Close()
		p.waitExit(t, 10*time.Second)
		if code := cmd.ProcessState.ExitCode(); code != 0 {
			t.Fatalf("weft run exited %d, want the app's 0", code)
		}
		if _, ok := instance(t, c.api, "frontend", "frontend-1"); ok {
			t.Fatal("frontend-1 still registered after weft run exited")
		}
	})

	t.Run("signals reach the app", func(t *testing.T) {
		const app = `
import signal, sys, time
signal.signal(signal.SIGHUP, lambda *a: print("got SIGHUP", flush=True))
signal.signal(signal.SIGTERM, lambda *a: sys.exit(7))
print("up", flush=True)
time.sleep(30)
sys.exit(1)
`
		// A join token given by the operator, and the CA pin in it alone
		// to trust the control plane: no operator token, no CA file.
		p := start(t, "weft run sig", bin.weft, "run", "--control", c.api, "--xds", c.xds, "--probe-interval", "100ms",
			"--join-token-file", joinTokenFile(t, c.api, "sig"), "--service", "sig", "--id", "sig-1", "--", "python3", "-c", app)
		eventually(t, 15*time.Second, "the app up", func() bool { return strings.Contains(p.output(), "up\n") })
		p.signal(t, syscall.SIGHUP)
		eventually(t, 5*time.Second, "SIGHUP forwarded", func() bool { return strings.Contains(p.output(), "got SIGHUP") })
		p.signal(t, syscall.SIGTERM)
		p.waitExit(t, 10*time.Second)
		if code := p.cmd.ProcessState.ExitCode(); code != 7 {
			t.Fatalf("weft run exited %d, want 7 (the app's answer to SIGTERM)", code)
		}
		if _, ok := instance(t, c.api, "sig", "sig-1"); ok {
			t.Fatal("sig-1 still registered after weft run exited")
		}
	})

	t.Run("batch job exit code and deregistration", func(t *testing.T) {
		cmd := exec.Command(bin.weft, append(append([]string{"run"}, cp...),
			"--admin", "off", "--service", "job", "--id", "job-1", "--", "python3", "-c", "import sys; sys.exit(3)")...)
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 3 {
			t.Fatalf("weft run: %v, want exit status 3 (the job's):\n%s", err, out)
		}
		if _, ok := instance(t, c.api, "job", "job-1"); ok {
			t.Fatalf("job-1 still registered after weft run exited:\n%s", out)
		}
	})
}

func TestRunRefusesToStartApp(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	_, takenPort, _ := net.SplitHostPort(taken.Addr().String())
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"control plane unreachable", nil, []string{"control plane unreachable", "connection refused"}},
		{"inbound port taken", []string{"--inbound-port", takenPort}, []string{"sidecar did not start", taken.Addr().String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			marker := filepath.Join(t.TempDir(), "started")
			api, xds := freePort(t), freePort(t)
			// A well-formed join token (its secret is never redeemed).
			tok := filepath.Join(t.TempDir(), "join.token")
			os.WriteFile(tok, []byte("weftjt_x.sha256:"+strings.Repeat("0", 64)+"\n"), 0o600)
			args := append([]string{"run", "--control", api, "--xds", xds, "--wait", "1s", "--admin", "off", "--service", "x", "--join-token-file", tok}, tc.args...)
			args = append(args, "--", "python3", "-c", "open("+strconv.Quote(marker)+", 'w').close()")
			begin := time.Now()
			out, err := exec.Command(bin.weft, args...).CombinedOutput()
			if err == nil {
				t.Fatalf("weft run succeeded:\n%s", out)
			}
			if took := time.Since(begin); took > 5*time.Second {
				t.Fatalf("weft run took %v to give up with --wait 1s", took)
			}
			for _, w := range append(tc.want, "python3 was not started") {
				if !strings.Contains(string(out), w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
			if tc.name == "control plane unreachable" && !strings.Contains(string(out), xds) {
				t.Fatalf("output does not name the xDS address %s:\n%s", xds, out)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Fatal("the app was started")
			}
		})
	}
}

// instance looks one instance up through the API (`weft get instances`).
func instance(t *testing.T, api, service, id string) (struct {
	ID     string
	Ready  bool
	Labels map[string]string
}, bool) {
	t.Helper()
	type inst = struct {
		ID     string
		Ready  bool
		Labels map[string]string
	}
	out, ok := weft(t, api, "", "get", "instances", service, "-o", "json")
	if !ok {
		t.Fatalf("weft get instances: %s", out)
	}
	var ins []inst
	if err := json.Unmarshal([]byte(out), &ins); err != nil {
		t.Fatalf("weft get instances: %v: %s", err, out)
	}
	for _, in := range ins {
		if in.ID == id {
			return in, true
		}
	}
	return inst{}, false
}

// requestsTotal sums weft_requests_total over the series one side
// reported (direction outbound: reporter source; inbound: destination),
// and of one destination service if set, on a sidecar's admin /metrics.
func requestsTotal(t *testing.T, admin, direction, service string) int {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	total := 0
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		reporter := "source"
		if direction == "inbound" {
			reporter = "destination"
		}
		if !strings.HasPrefix(line, "weft_requests_total{") || !strings.Contains(line, `reporter="`+reporter+`"`) {
			continue
		}
		if service != "" && !strings.Contains(line, `destination_service="`+service+`"`) {
			continue
		}
		f := strings.Fields(line)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		total += int(v)
	}
	return total
}

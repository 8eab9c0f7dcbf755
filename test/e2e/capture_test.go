package e2e

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nodeCaptured is a mesh-unaware Node client: a plain http.get to
// http://catalog/ (no proxy, no agent tricks: it resolves catalog through
// /etc/hosts and connects), N times, then one call to a host outside the
// mesh (argv[2]); it prints the answers, waits for stdin to close and
// exits 0.
const nodeCaptured = `
const http = require('http');
const [n, outside] = [Number(process.argv[1]), process.argv[2]];
const get = (url) => new Promise((res, rej) => {
  http.get(url, r => { let b = ''; r.on('data', d => b += d); r.on('end', () => res(r.statusCode + ' ' + b)); }).on('error', rej);
});
(async () => {
  for (let i = 0; i < n; i++) console.log('mesh: ' + await get('http://catalog/'));
  console.log('outside: ' + await get(outside));
  console.log('done');
  process.stdin.on('end', () => process.exit(0));
  process.stdin.resume();
})().catch(e => { console.error('client failed: ' + e); process.exit(9); });
`

// captureSkip skips unless this machine can create network namespaces.
func captureSkip(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("not root: weft run --capture creates network namespaces, veth pairs and iptables rules (run the tests as root)")
	}
	for _, c := range []string{"ip", "iptables", "python3", "node"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s is not installed: skipping transparent capture (scripts/install-deps.sh installs ip and iptables as root)", c)
		}
	}
}

// captureNS is the namespace and host veth a weft run --capture banner names.
var captureNS = regexp.MustCompile(`network namespace (weft-([0-9a-f]{8}))`)

func TestRunCapture(t *testing.T) {
	captureSkip(t)
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	if out, ok := weft(t, c.api, "apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: catalog}\nspec: {ports: [{port: 80}]}\n", "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	cp := append([]string{"--control", c.api, "--xds", c.xds, "--probe-interval", "100ms"}, c.runCreds()...)

	// A server outside the mesh, on one of this host's own addresses.
	outsideIP := hostIPv4(t)
	ln, err := net.Listen("tcp", net.JoinHostPort(outsideIP, "0"))
	if err != nil {
		t.Fatal(err)
	}
	outside := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("outside the mesh"))
	}), ReadHeaderTimeout: 5 * time.Second}
	go outside.Serve(ln)
	t.Cleanup(func() { outside.Close() })

	// The callee: the Python catalog listens on 127.0.0.1:$PORT inside its
	// namespace, unchanged from the explicit-mode test.
	catAdmin := freePort(t)
	cat := startCaptured(t, "weft run --capture catalog", append(cp,
		"--admin", catAdmin, "--service", "catalog", "--version", "v1", "--id", "catalog-1", "--", "python3", "-c", pyCatalog)...)
	eventually(t, 20*time.Second, "catalog-1 registered ready", func() bool {
		in, ok := instance(t, c.api, "catalog", "catalog-1")
		return ok && in.Ready
	})
	catNS := bannerNS(t, cat)

	const n = 5
	feAdmin := freePort(t)
	cmd := exec.Command(bin.weft, append(append([]string{"run", "--capture"}, cp...),
		"--admin", feAdmin, "--service", "frontend", "--id", "frontend-1",
		"--", "node", "-e", nodeCaptured, strconv.Itoa(n), "http://"+ln.Addr().String()+"/")...)
	// The client would get the proxy variables in explicit mode; under
	// capture it needs none, and any set here must not reach it.
	cmd.Env = append(os.Environ(), "HTTP_PROXY=http://127.0.0.1:9", "http_proxy=http://127.0.0.1:9")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	fe := &proc{name: "weft run --capture frontend", cmd: cmd, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = fe, fe
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { fe.err = cmd.Wait(); close(fe.done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-fe.done:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-fe.done
		}
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", fe.name, fe.output())
		}
	})
	eventually(t, 20*time.Second, "the Node client's calls", func() bool {
		return strings.Contains(fe.output(), "done\n") || strings.Contains(fe.output(), "client failed")
	})
	out := fe.output()
	// Every call reached the callee from the frontend's sidecar, which
	// proved the frontend's identity by mTLS: the callee's own view.
	if got := strings.Count(out, "mesh: 200 catalog-v1 says hi to spiffe://weft.local/ns/default/sa/frontend\n"); got != n {
		t.Fatalf("%d of %d calls to http://catalog/ were answered by the Python catalog:\n%s", got, n, out)
	}
	if !strings.Contains(out, "outside: 200 outside the mesh") {
		t.Fatalf("the call to %s outside the mesh did not pass through:\n%s", ln.Addr(), out)
	}
	feNS := bannerNS(t, fe)

	// Every call crossed the frontend's sidecar (captured, then routed to
	// catalog) and the catalog's inbound.
	if got := requestsTotal(t, feAdmin, "outbound", "catalog.default"); got < n {
		t.Fatalf("frontend sidecar counted %d outbound requests to catalog, want >= %d", got, n)
	}
	if got := requestsTotal(t, catAdmin, "inbound", ""); got < n {
		t.Fatalf("catalog sidecar counted %d inbound requests, want >= %d", got, n)
	}
	// Node's agent keeps connections alive: at least one was captured.
	if got := captured(t, feAdmin, "mesh"); got < 1 {
		t.Fatalf("frontend capture listener counted %d mesh connections, want >= 1", got)
	}
	if got := captured(t, feAdmin, "passthrough"); got < 1 {
		t.Fatalf("frontend capture listener counted %d passthrough connections, want >= 1", got)
	}

	stdin.Close()
	fe.waitExit(t, 15*time.Second)
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("weft run exited %d, want the app's 0", code)
	}
	assertCaptureGone(t, feNS)
	cat.signal(t, syscall.SIGTERM)
	cat.waitExit(t, 15*time.Second)
	assertCaptureGone(t, catNS)
}

// TestRunCaptureRefusals: --capture with --upstream is refused, and a
// failing app still leaves nothing behind.
func TestRunCaptureRefusals(t *testing.T) {
	out, err := exec.Command(bin.weft, "run", "--capture", "--service", "a", "--upstream", "b", "--", "true").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--upstream: not used with --capture") {
		t.Fatalf("--capture --upstream: %v\n%s", err, out)
	}
	captureSkip(t)
	t.Run("not root", func(t *testing.T) {
		// The binary, where an unprivileged user may run it.
		dir, err := os.MkdirTemp("", "weft-nobody-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		b, err := os.ReadFile(bin.weft)
		if err != nil {
			t.Fatal(err)
		}
		nb := filepath.Join(dir, "weft")
		if err := os.WriteFile(nb, b, 0o755); err != nil || os.Chmod(dir, 0o755) != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(nb, "run", "--capture", "--service", "a", "--", "true")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), "weft run --capture needs root (CAP_NET_ADMIN)") || !strings.Contains(string(out), "use weft run without --capture") {
			t.Fatalf("as nobody: %v\n%s", err, out)
		}
	})
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	// A run killed with SIGKILL cleans nothing up: the next run sweeps it.
	killed := startCaptured(t, "weft run --capture killed", append(append([]string{"--control", c.api, "--xds", c.xds, "--admin", "off"}, c.runCreds()...),
		"--service", "killed", "--id", "killed-1", "--", "python3", "-c", "import time; time.sleep(60)")...)
	killedNS := bannerNS(t, killed)
	killed.cmd.Process.Kill()
	killed.waitExit(t, 10*time.Second)
	cmd := exec.Command(bin.weft, append(append([]string{"run", "--capture", "--control", c.api, "--xds", c.xds, "--admin", "off"}, c.runCreds()...),
		"--service", "job", "--id", "job-1", "--", "python3", "-c", "import sys; sys.exit(4)")...)
	b, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 4 {
		t.Fatalf("weft run --capture: %v, want exit status 4 (the job's):\n%s", err, b)
	}
	m := captureNS.FindStringSubmatch(string(b))
	if m == nil {
		t.Fatalf("no namespace in the banner:\n%s", b)
	}
	assertCaptureGone(t, m[1])
	if !strings.Contains(string(b), "removing capture namespace "+killedNS) {
		t.Errorf("the next weft run --capture did not say it removed %s:\n%s", killedNS, b)
	}
	assertCaptureGone(t, killedNS)
}

// startCaptured starts weft run --capture ARGS; a test that fails stops
// it with SIGTERM, so it cleans up its namespace before the harness
// kills it.
func startCaptured(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := start(t, name, append([]string{bin.weft, "run", "--capture"}, args...)...)
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
		}
	})
	return p
}

// bannerNS waits for weft run's banner and returns the namespace it names.
func bannerNS(t *testing.T, p *proc) string {
	t.Helper()
	var ns string
	eventually(t, 20*time.Second, p.name+"'s banner", func() bool {
		if m := captureNS.FindStringSubmatch(p.output()); m != nil {
			ns = m[1]
			return true
		}
		return false
	})
	if out, err := exec.Command("ip", "netns", "list").Output(); err != nil || !strings.Contains(string(out), ns) {
		t.Fatalf("namespace %s not listed while weft run runs: %v\n%s", ns, err, out)
	}
	return ns
}

// assertCaptureGone checks that the namespace, its veth pair, its
// iptables rule and its /etc/netns directory are gone.
func assertCaptureGone(t *testing.T, ns string) {
	t.Helper()
	id := strings.TrimPrefix(ns, "weft-")
	if out, _ := exec.Command("ip", "netns", "list").Output(); strings.Contains(string(out), ns) {
		t.Errorf("namespace %s still exists after weft run exited:\n%s", ns, out)
	}
	if out, err := exec.Command("ip", "link", "show", "wefth"+id).CombinedOutput(); err == nil {
		t.Errorf("veth wefth%s still exists after weft run exited:\n%s", id, out)
	}
	if out, err := exec.Command("iptables", "-w", "5", "-t", "nat", "-S", "PREROUTING").Output(); err != nil || strings.Contains(string(out), ns) {
		t.Errorf("iptables rule of %s still present after weft run exited (or unreadable: %v):\n%s", ns, err, out)
	}
	if _, err := os.Stat("/etc/netns/" + ns); err == nil {
		t.Errorf("/etc/netns/%s still exists after weft run exited", ns)
	}
}

// hostIPv4 is one of this host's own IPv4 addresses that is neither
// loopback nor a capture veth: somewhere outside the mesh a captured app
// can reach.
func hostIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.To4() == nil || ipn.IP.IsLoopback() || strings.HasPrefix(ipn.IP.String(), "10.213.") {
			continue
		}
		return ipn.IP.String()
	}
	t.Skip("no non-loopback IPv4 address on this host to serve the outside-the-mesh call from")
	return ""
}

// captured reads weft_proxy_capture_connections_total{outcome} from a
// sidecar's admin /metrics.
func captured(t *testing.T, admin, outcome string) int {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	want := fmt.Sprintf(`weft_proxy_capture_connections_total{outcome=%q} `, outcome)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), want); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("metrics line %q: %v", sc.Text(), err)
			}
			return int(f)
		}
	}
	return 0
}

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// startLimitedSidecar runs `weft proxy` under a lowered RLIMIT_NOFILE
// (soft and hard, so the sidecar cannot raise it back).
func startLimitedSidecar(t *testing.T, name, admin, cfg string, nofile int, extra ...string) *proc {
	t.Helper()
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, name, append([]string{"sh", "-c", fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, nofile),
		bin.weft, "proxy", "--config", path}, extra...)...)
	eventually(t, 10*time.Second, name+" ready", func() bool { return httpOK(http.DefaultClient, "http://"+admin+"/ready") })
	return p
}

// procFDs counts a process's open fds and those that are pipes.
func procFDs(t *testing.T, pid int) (all, pipes int) {
	t.Helper()
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && strings.HasPrefix(l, "pipe:") {
			pipes++
		}
	}
	return len(ents), pipes
}

// procMem reads VmRSS and VmHWM (KiB) from /proc/PID/status.
func procMem(t *testing.T, pid int) (rss, hwm int) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss, _ = strconv.Atoi(f[1])
		case "VmHWM:":
			hwm, _ = strconv.Atoi(f[1])
		}
	}
	return rss, hwm
}

// readyWithin checks /ready on a fresh connection within d.
func readyWithin(admin string, d time.Duration) error {
	c := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + admin + "/ready")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/ready: %s", resp.Status)
	}
	return nil
}

// startTCPEcho is an opaque TCP upstream that echoes each connection.
func startTCPEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, make([]byte, 4096))
			}()
		}
	}()
	return ln.Addr().String()
}

// startHTTPApp is a plain HTTP upstream answering "app".
func startHTTPApp(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("app")) }),
		ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

var budgetLine = regexp.MustCompile(`msg="fd budget".* pipes=(\d+) connections=(\d+)`)

// Finding 2 of issue 7, RELIABILITY rows 17 and T12: tunnels through the
// proxy port until the fd budget is spent. The sidecar never reaches its
// fd limit, /ready answers within 1s throughout, another listener still
// serves, and once the tunnels close the pipes left are within the pool.
func TestTunnelFloodStaysWithinFDLimit(t *testing.T) {
	const nofile, maxTunnels = 1024, 700
	echo, app := startTCPEcho(t), startHTTPApp(t)
	admin, proxyAddr, appPort := freePort(t), freePort(t), freePort(t)
	cfg := fmt.Sprintf(`node: fd-1
admin: %s
outbound:
  proxy: %s
  ports:
    - {listen: %s, service: app}
`, admin, proxyAddr, appPort)
	dir := staticServices(t, map[string]string{"tun": echo, "app": app}, "tun")
	p := startLimitedSidecar(t, "fd-sidecar", admin, cfg, nofile, "--resources", dir)
	eventually(t, 10*time.Second, "resources applied", func() bool {
		return strings.Contains(p.output(), `msg="control-plane config applied"`)
	})
	pid := p.cmd.Process.Pid

	var tunnels []net.Conn
	defer func() {
		for _, c := range tunnels {
			c.Close()
		}
	}()
	// open returns false when the CONNECT is not answered: the budget is
	// spent and the connection waits in the backlog.
	open := func() bool {
		c, err := net.DialTimeout("tcp", proxyAddr, time.Second)
		if err != nil {
			t.Fatalf("dial proxy after %d tunnels: %v", len(tunnels), err)
		}
		tunnels = append(tunnels, c)
		c.SetDeadline(time.Now().Add(300 * time.Millisecond))
		fmt.Fprintf(c, "CONNECT tun:9 HTTP/1.1\r\nHost: tun:9\r\n\r\nping")
		br := bufio.NewReader(c)
		status, err := br.ReadString('\n')
		if err != nil {
			return false
		}
		if !strings.HasPrefix(status, "HTTP/1.1 200") {
			t.Fatalf("CONNECT %d: %q", len(tunnels), status)
		}
		for line, err := br.ReadString('\n'); line != "\r\n"; line, err = br.ReadString('\n') {
			if err != nil {
				t.Fatalf("CONNECT %d head: %v", len(tunnels), err)
			}
		}
		echoed := make([]byte, 4)
		if _, err := io.ReadFull(br, echoed); err != nil || string(echoed) != "ping" {
			t.Fatalf("tunnel %d echo %q: %v", len(tunnels), echoed, err)
		}
		c.SetDeadline(time.Time{})
		return true
	}
	opened := 0
	for opened < maxTunnels && open() {
		opened++
		if opened%50 == 0 {
			if err := readyWithin(admin, time.Second); err != nil {
				t.Fatalf("/ready with %d tunnels: %v", opened, err)
			}
		}
	}
	all, pipes := procFDs(t, pid)
	t.Logf("%d tunnels opened before the budget was spent; sidecar holds %d fds (%d pipes), limit %d", opened, all, pipes, nofile)
	if opened == maxTunnels {
		t.Fatalf("%d tunnels and the fd budget never stopped accepting", opened)
	}
	if opened < 200 {
		t.Fatalf("only %d tunnels before the budget was spent, want >= 200 of a %d fd limit", opened, nofile)
	}
	if all > nofile-64 {
		t.Fatalf("sidecar holds %d fds, within 64 of its %d limit", all, nofile)
	}
	for i := range 3 {
		if err := readyWithin(admin, time.Second); err != nil {
			t.Fatalf("/ready %d at the budget: %v", i, err)
		}
		if code, body := getWithin(t, "http://"+appPort+"/", 2*time.Second); code != 200 || body != "app" {
			t.Fatalf("request through the app port at the budget: %d %q", code, body)
		}
	}
	if out := p.output(); strings.Contains(out, "too many open files") {
		t.Fatalf("sidecar ran out of fds:\n%s", out)
	}

	poolCap := 128
	if m := budgetLine.FindStringSubmatch(p.output()); m != nil {
		poolCap, _ = strconv.Atoi(m[1])
	}
	for _, c := range tunnels {
		c.Close()
	}
	tunnels = nil
	eventually(t, 10*time.Second, "pipe fds within the pool cap", func() bool {
		_, pipes := procFDs(t, pid)
		return pipes <= 2*poolCap
	})
	if err := readyWithin(admin, time.Second); err != nil {
		t.Fatalf("/ready after the tunnels closed: %v", err)
	}
}

// getWithin GETs url on a fresh connection; a transport error is a
// failure (a hang shows up as the timeout).
func getWithin(t *testing.T, url string, d time.Duration) (int, string) {
	t.Helper()
	c := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// staticServices writes a --resources directory with one Service per name,
// each with one static endpoint (host:port), the ones named in tcp with
// protocol tcp, and returns the directory.
func staticServices(t *testing.T, endpoints map[string]string, tcp ...string) string {
	t.Helper()
	dir := t.TempDir()
	var b strings.Builder
	for name, addr := range endpoints {
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		proto := "http"
		if slices.Contains(tcp, name) {
			proto = "tcp"
		}
		fmt.Fprintf(&b, "---\napiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: %s}\nspec:\n  ports: [{port: 80, protocol: %s}]\n  endpoints: [{address: %s, port: %s}]\n", name, proto, host, port)
	}
	if err := os.WriteFile(filepath.Join(dir, "services.yaml"), []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Package e2e runs the real weft binary and real upstream processes on
// 127.0.0.1 and checks what a user would see.
package e2e

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var bin struct {
	weft, echo string
}

func TestMain(m *testing.M) {
	if os.Getenv(grpcClientEnv) != "" {
		os.Exit(m.Run()) // a client helper process: it runs no binary
	}
	dir, err := os.MkdirTemp("", "weft-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin.weft = filepath.Join(dir, "weft")
	bin.echo = filepath.Join(dir, "echo")
	for _, b := range []struct{ out, pkg string }{{bin.weft, "../../cmd/weft"}, {bin.echo, "../../demo/cmd/echo"}} {
		// -buildvcs=auto over any GOFLAGS, so `weft version` can name the commit.
		cmd := exec.Command("go", "build", "-buildvcs=auto", "-o", b.out, b.pkg)
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build", b.pkg, err)
			os.Exit(1)
		}
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// freePort returns a loopback address that was free a moment ago. A clash
// with another process is possible but shows up as a clear bind error.
func freePort(t *testing.T) string {
	t.Helper()
	// Below the kernel's ephemeral range (32768+ by default), so that no
	// outgoing connection can take the port between this check and the
	// child process binding it; never the same port twice in one run.
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 200 {
		port := 20000 + rand.IntN(12000)
		if portsGiven[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		portsGiven[port] = true
		return ln.Addr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// proc is a child process whose output is kept for failure messages.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
	err  error
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, done: make(chan struct{})}
	p.cmd = exec.Command(args[0], args[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("--- %s output ---\n%s", name, p.output())
		}
	})
	return p
}

func (p *proc) signal(t *testing.T, sig syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %s: %v", p.name, err)
	}
}

// waitExit waits for the process to exit within d.
func (p *proc) waitExit(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v", p.name, d)
	}
}

// eventually polls cond every 20ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func httpOK(c *http.Client, url string) bool {
	resp, err := c.Get(url)
	if err != nil {
		return false
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func startEcho(t *testing.T, service, version string) string {
	t.Helper()
	addr := freePort(t)
	start(t, service+"-"+version, bin.echo, "-addr", addr, "-service", service, "-version", version)
	eventually(t, 10*time.Second, "echo "+addr, func() bool { return httpOK(http.DefaultClient, "http://"+addr+"/") })
	return addr
}

// startSidecar writes cfg to a file and runs `weft proxy` on it (with
// extra flags, if any), waiting for its admin /ready.
func startSidecar(t *testing.T, name, admin, cfg string, extra ...string) (*proc, string) {
	t.Helper()
	cfg = withIdentity(t, cfg)
	path := filepath.Join(t.TempDir(), name+".yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, name, append([]string{bin.weft, "proxy", "--config", path, "--log-level", "debug"}, extra...)...)
	eventually(t, 10*time.Second, name+" ready", func() bool { return httpOK(http.DefaultClient, "http://"+admin+"/ready") })
	return p, path
}

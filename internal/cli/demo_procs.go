//go:build !proxyonly

package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/weft-mesh/weft/demo"
)

// demoInstance is one instance of the shop, run under `weft run`.
type demoInstance struct {
	id, service, version string
	lang                 string   // what the app is written in, for the narration
	upstreams            []string // weft run --upstream
	argv                 []string // the app's command line
	note                 string   // said when the instance is not what was planned
	capture              bool     // weft run --capture
}

// shopInstances are the shop's five instances: a Python frontend, a Go
// catalog in v1 and v2 (two instances, so one can fail while the other
// serves), and a Node ratings service. A missing python3 or node is
// replaced by the Go stand-in, with a note saying so. The scripts are
// written into dir.
func shopInstances(exe, dir string, lookPath func(string) (string, error)) ([]demoInstance, error) {
	catalog := func(id, version string) demoInstance {
		return demoInstance{id: id, service: "catalog", version: version, lang: "Go",
			argv: []string{exe, "demo-app", "catalog", "--version", version, "--fail-file", failFile(dir, id)}}
	}
	frontend := demoInstance{id: "frontend-1", service: "frontend", lang: "Python", upstreams: []string{"catalog", "ratings"}}
	ratings := demoInstance{id: "ratings-1", service: "ratings", version: "v1", lang: "Node"}
	for _, s := range []struct {
		in      *demoInstance
		runtime string
		script  string
	}{{&frontend, "python3", "frontend/frontend.py"}, {&ratings, "node", "ratings/ratings.js"}} {
		path, err := lookPath(s.runtime)
		if err != nil {
			s.in.lang = "Go"
			s.in.argv = []string{exe, "demo-app", s.in.service}
			s.in.note = fmt.Sprintf("%s is not installed: %s runs the Go stand-in (weft demo-app %s) instead of %s", s.runtime, s.in.service, s.in.service, filepath.Base(s.script))
			continue
		}
		dst := filepath.Join(dir, filepath.Base(s.script))
		if err := writeEmbedded(s.script, dst); err != nil {
			return nil, err
		}
		s.in.argv = []string{path, dst}
	}
	if ok, _ := demoCaptureAvailable(); ok {
		ratings.capture = true
		const how = "meshed by weft run --capture: in a network namespace of its own, all its TCP goes through its sidecar"
		if ratings.note != "" {
			ratings.note += "; " + how
		} else {
			ratings.note = how
		}
	}
	return []demoInstance{frontend, catalog("catalog-v1", "v1"), catalog("catalog-v2-a", "v2"), catalog("catalog-v2-b", "v2"), ratings}, nil
}

func failFile(dir, id string) string { return filepath.Join(dir, id+".fail") }

func writeEmbedded(name, dst string) error {
	b, err := demo.Sources.ReadFile(name)
	if err != nil {
		return fmt.Errorf("embedded %s: %w", name, err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// runArgs is the weft run command line that meshes in.
func (in demoInstance) runArgs(exe, api, xds, tokenFile, caFile string, verbose bool) []string {
	level := "warn"
	if verbose {
		level = "info"
	}
	args := []string{exe, "run", "--service", in.service, "--id", in.id, "--control", api, "--xds", xds,
		"--probe-path", "/healthz", "--probe-interval", "200ms", "--drain", "500ms", "--grace", "3s", "--log-level", level,
		// weft run makes its sidecar a join token with the operator token,
		// and trusts the control plane through its CA file.
		"--token-file", tokenFile, "--ca-file", caFile}
	if in.version != "" {
		args = append(args, "--version", in.version)
	}
	for _, u := range in.upstreams {
		args = append(args, "--upstream", u)
	}
	if in.capture {
		args = append(args, "--capture")
	}
	return append(append(args, "--"), in.argv...)
}

// demoProc is one `weft run` child: its output is kept (the last 16 KiB)
// to explain a failure, and with -v also shown, line by line, prefixed.
type demoProc struct {
	in   demoInstance
	cmd  *exec.Cmd
	out  *tailWriter
	done chan struct{}
	err  error
}

func startDemoProc(in demoInstance, argv []string, logw io.Writer) (*demoProc, error) {
	p := &demoProc{in: in, out: &tailWriter{max: 16 << 10, prefix: "[" + in.id + "] ", w: logw}, done: make(chan struct{})}
	p.cmd = exec.Command(argv[0], argv[1:]...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	// The demo's Ctrl-C is the demo's to handle: it stops its children
	// in order. If the demo dies, each child gets SIGTERM (Linux).
	dieWithParent(p.cmd)
	ownProcessGroup(p.cmd)
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", in.id, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// exited reports an error if the process has ended, with its last output.
func (p *demoProc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s (%s) exited: %v\n%s", p.in.id, strings.Join(p.cmd.Args, " "), p.err, p.out.String())
	default:
		return nil
	}
}

// stop sends SIGTERM (weft run passes it to the app, deregisters and
// drains) and kills the process if it has not exited within grace.
func (p *demoProc) stop(grace time.Duration) {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// stopAll stops procs together: each drains on its own clock.
func stopAll(procs []*demoProc, grace time.Duration) {
	var wg sync.WaitGroup
	for _, p := range procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stop(grace)
		}()
	}
	wg.Wait()
}

// anyExited returns the first process that has ended, as an error.
func anyExited(procs []*demoProc) error {
	var errs []error
	for _, p := range procs {
		if err := p.exited(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// tailWriter keeps the last max bytes written and copies whole lines,
// prefixed, to w (nil: nowhere).
type tailWriter struct {
	mu      sync.Mutex
	max     int
	buf     []byte
	prefix  string
	w       io.Writer
	partial []byte
}

func (t *tailWriter) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	if t.w != nil {
		t.partial = append(t.partial, b...)
		for {
			i := bytes.IndexByte(t.partial, '\n')
			if i < 0 {
				break
			}
			fmt.Fprintf(t.w, "%s%s\n", t.prefix, t.partial[:i])
			t.partial = t.partial[i+1:]
		}
		if len(t.partial) > t.max {
			t.partial = t.partial[:0]
		}
	}
	return len(b), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

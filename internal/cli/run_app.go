package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/weft-mesh/weft/internal/sidecar"
)

// loopbackNoProxy keeps the app's calls to its local outbound ports (and
// anything else on this machine) off the proxy; mesh names go through it.
const loopbackNoProxy = "localhost,127.0.0.1,::1"

// appEnv is base plus what meshes the app: the port it must listen on, the
// proxy variables, and the local address of each declared upstream for
// clients that ignore proxy variables. Later entries win in exec.Cmd.Env.
func appEnv(base []string, appPort int, a sidecar.Addrs, upstreams []string) []string {
	proxy := "http://" + a.Proxy
	noProxy := loopbackNoProxy
	for _, k := range []string{"NO_PROXY", "no_proxy"} {
		if v := lookupEnv(base, k); v != "" {
			noProxy = v + "," + noProxy
			break
		}
	}
	env := append(base[:len(base):len(base)],
		"PORT="+strconv.Itoa(appPort),
		"HTTP_PROXY="+proxy, "http_proxy="+proxy,
		// grpc-go reads HTTPS_PROXY and sends CONNECT, which the sidecar
		// routes per request for mesh services.
		"HTTPS_PROXY="+proxy, "https_proxy="+proxy,
		"NO_PROXY="+noProxy, "no_proxy="+noProxy,
		"NODE_USE_ENV_PROXY=1",
	)
	list := make([]string, 0, len(upstreams))
	for _, u := range upstreams {
		env = append(env, upstreamEnvName(u)+"="+a.Outbound[u])
		list = append(list, u+"="+a.Outbound[u])
	}
	return append(env, "WEFT_UPSTREAMS="+strings.Join(list, ","))
}

// upstreamEnvName is the variable holding an upstream's local address:
// catalog -> WEFT_UPSTREAM_CATALOG, my-svc.shop -> WEFT_UPSTREAM_MY_SVC_SHOP.
func upstreamEnvName(u string) string {
	b := []byte(strings.ToUpper(u))
	for i, c := range b {
		if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
			b[i] = '_'
		}
	}
	return "WEFT_UPSTREAM_" + string(b)
}

func lookupEnv(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}

// forwardedSignals are passed on to the app; SIGINT and SIGTERM also start
// the --grace clock after which it is killed.
var forwardedSignals = []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}

// ctxSignalWait is how long a cancelled command context waits for the
// signal that cancelled it (main's handler and this one both see it)
// before the app is sent SIGTERM on its own.
const ctxSignalWait = 200 * time.Millisecond

// superviseApp runs the app until it exits and returns its exit status
// (128+N when signal N killed it, as shells report it). A sidecar that
// fails while the app runs stops the app: it would run unmeshed.
func superviseApp(ctx context.Context, o *runOpts, env []string, stdout, stderr io.Writer, sc *runSidecar) (int, error) {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, forwardedSignals...)
	defer signal.Stop(sigs)
	cmd := exec.Command(o.argv[0], o.argv[1:]...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, os.Stdin, stdout, stderr
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("start the app: %w", err)
	}
	waitc := make(chan error, 1)
	go func() { waitc <- cmd.Wait() }()
	var (
		forwarded bool
		ctxDone   = ctx.Done()
		scDone    = sc.done
		ctxTimer  <-chan time.Time
		killTimer <-chan time.Time
		scFailed  error
	)
	terminate := func(sig os.Signal) {
		cmd.Process.Signal(sig)
		if killTimer == nil {
			killTimer = time.After(o.grace)
		}
	}
	for {
		select {
		case err := <-waitc:
			code := exitStatus(cmd.ProcessState)
			if scFailed != nil {
				return code, fmt.Errorf("sidecar failed while the app ran, so the app was stopped: %w", scFailed)
			}
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				return code, fmt.Errorf("wait for the app: %w", err)
			}
			return code, nil
		case s := <-sigs:
			forwarded = true
			if s == syscall.SIGHUP {
				cmd.Process.Signal(s)
			} else {
				terminate(s)
			}
		case <-ctxDone:
			ctxDone, ctxTimer = nil, time.After(ctxSignalWait)
		case <-ctxTimer:
			if !forwarded {
				terminate(syscall.SIGTERM)
			}
		case <-scDone:
			scDone = nil
			scFailed = sc.err
			if scFailed == nil {
				scFailed = errors.New("stopped")
			}
			fmt.Fprintf(stderr, "weft run: sidecar failed (%v); stopping the app\n", scFailed)
			terminate(syscall.SIGTERM)
		case <-killTimer:
			fmt.Fprintf(stderr, "weft run: the app did not exit within --grace %v; killing it\n", o.grace)
			cmd.Process.Kill()
			killTimer = make(chan time.Time) // never fires: Wait returns next
		}
	}
}

// exitStatus is the app's exit code, or 128+N for death by signal N.
func exitStatus(ps *os.ProcessState) int {
	if ps == nil {
		return 1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

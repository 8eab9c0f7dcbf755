package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/sidecar"
)

// runSidecar is the sidecar `weft run` runs in its own process.
type runSidecar struct {
	ready   chan sidecar.Addrs
	applied chan []string // the first control-plane config's cluster names
	stop    context.CancelFunc
	done    chan struct{} // closed when Run returned; err is then set
	err     error
	once    sync.Once
}

func startRunSidecar(cfg *sidecar.Config, log *slog.Logger) (*runSidecar, error) {
	r := &runSidecar{ready: make(chan sidecar.Addrs, 1), applied: make(chan []string, 1), done: make(chan struct{})}
	var first sync.Once
	sc, err := sidecar.New(cfg, sidecar.Options{
		Logger: log,
		Ready:  func(a sidecar.Addrs) { r.ready <- a },
		ControlPlaneApplied: func(_ string, clusters []string) {
			first.Do(func() { r.applied <- clusters })
		},
	})
	if err != nil {
		return nil, err
	}
	// Its own context, not the command's: a SIGINT goes to the app, and
	// the sidecar stops only once the app has exited.
	ctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	go func() {
		defer close(r.done)
		r.err = sc.Run(ctx)
	}()
	return r, nil
}

// stopAndWait deregisters and drains; Run's drain is bounded by the
// config's drainTimeout.
func (r *runSidecar) stopAndWait() error {
	r.once.Do(r.stop)
	<-r.done
	return r.err
}

// waitReady returns once the sidecar's listeners are bound, its first
// config from the control plane is applied and its instance is
// registered: the app's first request already has its routes, and a
// batch job that exits at once is still deregistered (a registration in
// flight when the sidecar stops would otherwise outlive it until its
// lease ends). Each missing part after --wait is named in the error.
func (r *runSidecar) waitReady(ctx context.Context, o *runOpts, api *apiclient.Client, stderr io.Writer) (sidecar.Addrs, error) {
	var (
		addrs           *sidecar.Addrs
		clusters        []string
		synced, apiOK   bool
		apiErr          = errors.New("no answer yet")
		start           = time.Now()
		noted           bool
		deadline        = time.NewTimer(o.wait)
		tick            = time.NewTicker(100 * time.Millisecond)
		controlPlaneMsg = fmt.Sprintf("xDS %s, API %s", strings.Join(o.xds, ","), strings.Join(o.api, ","))
	)
	defer deadline.Stop()
	defer tick.Stop()
	for addrs == nil || !synced || !apiOK {
		select {
		case a := <-r.ready:
			addrs = &a
		case clusters = <-r.applied:
			synced = true
		case <-r.done:
			return sidecar.Addrs{}, fmt.Errorf("sidecar did not start: %w", r.err)
		case <-ctx.Done():
			return sidecar.Addrs{}, fmt.Errorf("interrupted while waiting for the control plane: %w", ctx.Err())
		case <-deadline.C:
			return sidecar.Addrs{}, notReady(o, addrs != nil, synced, apiErr)
		case <-tick.C:
			if !apiOK {
				apiOK, apiErr = registered(ctx, api, o)
			}
			if !noted && time.Since(start) > 2*time.Second {
				noted = true
				fmt.Fprintf(stderr, "weft run: waiting for the control plane (%s), up to %v\n", controlPlaneMsg, o.wait)
			}
		}
	}
	for _, u := range o.upstreams {
		if !knowsService(clusters, u) {
			fmt.Fprintf(stderr, "weft run: warning: the control plane has no Service %q yet: calls to it get 404 until one is applied (weft apply)\n", u)
		}
	}
	return *addrs, nil
}

// notReady names what did not happen within --wait, dialling each
// control-plane address to tell "unreachable" from "not answering".
func notReady(o *runOpts, bound, synced bool, apiErr error) error {
	if !bound {
		return fmt.Errorf("the sidecar did not bind its listeners within --wait %v", o.wait)
	}
	var down []string
	for _, a := range o.xds {
		if err := dialCheck(a); err != nil {
			down = append(down, "xDS "+a+" ("+err.Error()+")")
		}
	}
	for _, a := range o.api {
		if err := dialCheck(a); err != nil {
			down = append(down, "API "+a+" ("+err.Error()+")")
		}
	}
	if len(down) > 0 {
		return fmt.Errorf("control plane unreachable after --wait %v: %s; start `weft control` or point --control (and --xds) at it", o.wait, strings.Join(down, ", "))
	}
	if !synced {
		return fmt.Errorf("no config from the control plane's xDS at %s within --wait %v (it accepts connections; see the sidecar's log with --log-level info)", strings.Join(o.xds, ","), o.wait)
	}
	return fmt.Errorf("the control plane's API at %s: no registration within --wait %v: %w", strings.Join(o.api, ","), o.wait, apiErr)
}

// registered asks the API whether the instance is listed yet.
func registered(ctx context.Context, api *apiclient.Client, o *runOpts) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	ins, err := api.Instances(ctx, o.service)
	if err != nil {
		return false, err
	}
	for _, in := range ins {
		if in.ID == o.id {
			return true, nil
		}
	}
	return false, fmt.Errorf("instance %s/%s not registered yet", o.service, o.id)
}

func dialCheck(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		var op *net.OpError
		if errors.As(err, &op) && op.Err != nil {
			return op.Err
		}
		return err
	}
	c.Close()
	return nil
}

// knowsService reports whether clusters hold upstream u ("catalog" or
// "catalog.ns"), named "catalog.default" or "catalog.default/v1".
func knowsService(clusters []string, u string) bool {
	key := u
	if !strings.Contains(u, ".") {
		key += ".default"
	}
	for _, c := range clusters {
		if c == key || strings.HasPrefix(c, key+"/") {
			return true
		}
	}
	return false
}

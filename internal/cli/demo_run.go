//go:build !proxyonly

package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/sidecar"
)

// demoRun is the scenario's state: what the steps act on and report from.
type demoRun struct {
	out           io.Writer
	api           *apiclient.Client
	dir           string // the demo's files: scripts, fail switches, the route applied last
	sidecars      int    // how many sidecars ACK each change
	stats         *loadStats
	procs         []*demoProc
	frontendAdmin string
	loadProxy     string // the load generator sidecar's proxy listener
	dashboard     string // the dashboard's link, "" when it is off
	rev           int64  // the config revision applied last
	metricsBefore resilienceCounts
}

// say prints one narration line under the current step.
func (d *demoRun) say(format string, args ...any) {
	fmt.Fprintf(d.out, "   "+format+"\n", args...)
}

// apply sends yaml to the control plane the way `weft apply -f` does
// (written to file in the demo's directory first, so a user of --serve
// can edit and re-apply it), and waits until every sidecar has ACKed it.
func (d *demoRun) apply(ctx context.Context, file, yaml string) error {
	return d.applyTo(ctx, file, yaml, nil)
}

// applyTo is apply for a change that reaches only the sidecars named
// (nil: all).
func (d *demoRun) applyTo(ctx context.Context, file, yaml string, only []string) error {
	path := filepath.Join(d.dir, file)
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		return err
	}
	docs, err := yamlDocs(path, []byte(yaml))
	if err != nil {
		return err
	}
	b, err := body(docs)
	if err != nil {
		return err
	}
	start := time.Now()
	res, err := d.api.Apply(ctx, b, false)
	if err != nil {
		return fmt.Errorf("apply %s: %w", file, err)
	}
	var changed []string
	for _, ch := range res.Changes {
		changed = append(changed, ch.Key+" "+ch.Action)
	}
	d.rev = res.Revision
	if d.sidecars == 0 {
		d.say("weft apply -f %s: %s; config revision %d.", file, strings.Join(changed, ", "), res.Revision)
		return nil
	}
	if err := waitSyncedNodes(ctx, d.api, res.Revision, d.sidecars, only); err != nil {
		return err
	}
	who := fmt.Sprintf("all %d sidecars", d.sidecars)
	if only != nil {
		who = strings.Join(only, ", ") + "'s sidecar (the only one it changes)"
	}
	d.say("weft apply -f %s: %s; revision %d, ACKed by %s in %dms.",
		file, strings.Join(changed, ", "), res.Revision, who, time.Since(start).Milliseconds())
	return nil
}

func (d *demoRun) applyRoute(ctx context.Context, what string, v2Weight int, beta bool) error {
	d.say("%s.", what)
	return d.apply(ctx, "catalog-route.yaml", catalogRouteYAML(v2Weight, beta))
}

// resilienceCounts are the frontend sidecar's retry and ejection counters
// for catalog.
type resilienceCounts struct{ retries, ejections int64 }

func (d *demoRun) resilienceMetrics(ctx context.Context) resilienceCounts {
	text := d.frontendMetrics(ctx)
	return resilienceCounts{
		retries:   sumCounter(text, "weft_proxy_retries_total", `cluster="catalog`),
		ejections: sumCounter(text, "weft_proxy_outlier_ejections_total", `cluster="catalog`),
	}
}

// sumCounter adds up the samples of Prometheus text metric name whose
// labels contain label.
func sumCounter(text, name, label string) int64 {
	var sum int64
	for _, line := range strings.Split(text, "\n") {
		rest, ok := strings.CutPrefix(line, name+"{")
		if !ok || !strings.Contains(rest, label) {
			continue
		}
		i := strings.LastIndexByte(rest, ' ')
		if f, err := strconv.ParseFloat(strings.TrimSpace(rest[i+1:]), 64); err == nil {
			sum += int64(f)
		}
	}
	return sum
}

// measure lets the load run for d, failing early if an instance dies.
func (d *demoRun) measure(ctx context.Context, dur time.Duration) error {
	end := time.NewTimer(dur)
	defer end.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-end.C:
			return nil
		case <-tick.C:
			if err := anyExited(d.procs); err != nil {
				return err
			}
		}
	}
}

// waitEnter waits for a line on in, or ctx's end.
func waitEnter(ctx context.Context, w io.Writer, in *bufio.Reader) error {
	fmt.Fprint(w, "\n   [Enter: next step]")
	got := make(chan error, 1)
	go func() {
		_, err := in.ReadString('\n')
		got <- err
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case err := <-got:
		if err == io.EOF {
			return nil // stdin closed: carry on unattended
		}
		return err
	}
}

// isTerminal reports whether f is a character device (a terminal).
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// waitEndpoints waits until the sidecar whose admin listener is admin
// holds at least want[c] ready endpoints in each cluster c: a registered,
// ready instance is not yet one its callers can pick until the push with
// it has reached them, and the first pages must not find none (UH).
func waitEndpoints(ctx context.Context, admin string, want map[string]int) error {
	var have map[string]int
	err := waitFor(ctx, 20*time.Second, "the endpoints to reach sidecar "+admin, func() bool {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(rctx, "GET", "http://"+admin+"/config", nil)
		if err != nil {
			return false
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var dump sidecar.ConfigDump
		if json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&dump) != nil {
			return false
		}
		have = map[string]int{}
		for _, c := range dump.Clusters {
			have[c.Name] = len(c.Endpoints)
		}
		for c, n := range want {
			if have[c] < n {
				return false
			}
		}
		return true
	})
	if err != nil {
		err = fmt.Errorf("%w: want %v, have %v", err, want, have)
	}
	return err
}

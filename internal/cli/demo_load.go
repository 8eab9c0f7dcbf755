//go:build !proxyonly

package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// The load generator's beta users: one request in betaEvery carries this
// header, which the frontend passes on to catalog.
const (
	betaHeader  = "x-user"
	betaUser    = "beta-tester"
	betaEvery   = 5
	loadWorkers = 16
)

// loadStats collects what the load generator sees, one stepStats per step
// of the scenario. Every request is counted in the step it began and ended
// in, or, if it overlapped a change being applied, with the changes.
type loadStats struct {
	mu      sync.Mutex
	steps   []*stepStats
	cur     *stepStats
	start   time.Time
	changes *stepStats
}

// begin ends the current step and starts counting into a new one.
func (l *loadStats) begin(name string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked()
	l.cur, l.start = newStepStats(name), time.Now()
	l.steps = append(l.steps, l.cur)
}

// changing ends the current step and counts what ends next with the
// changes, until the next begin: while every sidecar takes a new config,
// a request may be routed by either, and belongs to neither step's row.
func (l *loadStats) changing() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked()
	if l.changes == nil {
		l.changes = newStepStats("(changes)")
		l.changes.changes = true
		l.steps = append(l.steps, l.changes)
	}
	l.cur, l.start = l.changes, time.Now()
}

// end stops counting; requests until the next begin are not counted.
func (l *loadStats) end() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endLocked()
}

func (l *loadStats) endLocked() {
	if l.cur != nil {
		l.cur.elapsed += time.Since(l.start)
		l.cur = nil
	}
}

// add counts a request that ended now after lat. One that began before
// the current step did (while a change was applied, or in the step
// before) may have been routed by either config: it counts with the
// changes, so each step's row shows its own config only.
func (l *loadStats) add(ok bool, version string, beta bool, lat time.Duration, reason string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return
	}
	if l.cur != l.changes && time.Now().Add(-lat).Before(l.start) && l.changes != nil {
		l.changes.add(ok, version, beta, lat, reason)
		return
	}
	l.cur.add(ok, version, beta, lat, reason)
}

// current is a copy of the step being counted, elapsed so far.
func (l *loadStats) current() stepStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		return stepStats{}
	}
	c := *l.cur
	c.elapsed = time.Since(l.start)
	c.latencies = append([]time.Duration(nil), l.cur.latencies...)
	c.regular, c.beta, c.errors = cloneCounts(l.cur.regular), cloneCounts(l.cur.beta), cloneCounts(l.cur.errors)
	return c
}

func (l *loadStats) all() []*stepStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]*stepStats(nil), l.steps...)
}

func cloneCounts(m map[string]int) map[string]int {
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// loadGen sends rate page requests a second to the frontend through an
// HTTP proxy (the demo's own sidecar), as the shop's users would.
type loadGen struct {
	client *http.Client
	rate   int
	stats  *loadStats
}

func newLoadGen(proxy string, rate int, stats *loadStats) *loadGen {
	pu := &url.URL{Scheme: "http", Host: proxy}
	return &loadGen{rate: rate, stats: stats, client: &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{Proxy: http.ProxyURL(pu), MaxIdleConnsPerHost: loadWorkers},
	}}
}

// run sends until ctx ends. A ticker hands out requests to a fixed set
// of workers; a tick that finds them all busy is skipped, so a slow mesh
// sees fewer requests rather than a growing queue.
func (g *loadGen) run(ctx context.Context) {
	defer g.client.CloseIdleConnections()
	work := make(chan int)
	var wg sync.WaitGroup
	for range loadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range work {
				g.one(ctx, n)
			}
		}()
	}
	t := time.NewTicker(time.Second / time.Duration(g.rate))
	defer t.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			close(work)
			wg.Wait()
			return
		case <-t.C:
			select {
			case work <- n:
			default:
			}
		}
	}
}

// pageReply is the part of the frontend's page the demo reads.
type pageReply struct {
	Catalog struct {
		Version string `json:"version"`
	} `json:"catalog"`
	Error string `json:"error"`
}

func (g *loadGen) one(ctx context.Context, n int) {
	beta := n%betaEvery == 0
	req, err := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("http://frontend/products/%d", n%20+1), nil)
	if err != nil {
		return
	}
	if beta {
		req.Header.Set(betaHeader, betaUser)
	}
	start := time.Now()
	version, reason := g.page(req)
	if ctx.Err() != nil {
		return // cut off by the demo's end, not the mesh's doing
	}
	g.stats.add(reason == "", version, beta, time.Since(start), reason)
}

// page returns the catalog version that served the page, or why it failed.
func (g *loadGen) page(req *http.Request) (version, reason string) {
	resp, err := g.client.Do(req)
	if err != nil {
		return "", "no answer: " + errReason(err)
	}
	defer resp.Body.Close()
	var p pageReply
	derr := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&p)
	switch {
	case resp.StatusCode != http.StatusOK && p.Error != "":
		return "", fmt.Sprintf("%d from frontend: %s", resp.StatusCode, p.Error)
	case resp.StatusCode != http.StatusOK:
		if f := resp.Header.Get("x-weft-response-flags"); f != "" {
			return "", fmt.Sprintf("%d from the mesh (%s)", resp.StatusCode, f)
		}
		return "", fmt.Sprintf("%d", resp.StatusCode)
	case derr != nil || p.Catalog.Version == "":
		return "", "a page without a catalog version"
	}
	return p.Catalog.Version, ""
}

func errReason(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 {
		s = s[i+2:]
	}
	return s
}

package meshstats

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

// Config configures a Collector. Zero durations take the defaults.
type Config struct {
	// Instances lists every registered instance (with its admin address).
	Instances func(ctx context.Context) ([]api.Instance, error)
	// Interval between scrape rounds. Default 5s.
	Interval time.Duration
	// Window is how far back the figures reach. Default 1m.
	Window time.Duration
	// Timeout bounds one sidecar's scrape. Default 2s.
	Timeout time.Duration
	// Parallel caps concurrent scrapes. Default 8.
	Parallel int
	// SPIFFEID names the identity the mesh's CA issues to an instance's
	// sidecar, shown with its certificate (nil or "": not shown).
	SPIFFEID func(api.Instance) string
	Client   *http.Client
	Logger   *slog.Logger
}

// Collector scrapes sidecars and keeps windows of their increases.
type Collector struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	prev     map[string]map[series]*sample // by instance
	certs    map[string]instCert           // by instance: the last good scrape's
	rounds   []round                       // oldest first, within the window
	sidecars int
	failed   int
	updated  time.Time
}

// round is the increase of every aggregate between two scrape rounds.
type round struct {
	from, to time.Time
	aggs     map[aggKey]*agg
	insts    map[aggKey]int // instances seen per service version
	fails    map[failKey]float64
}

// failKey is one kind of response other than 2xx on one edge.
type failKey struct {
	source      bool // reported by the caller
	from, to    string
	code, flags string
}

type aggKey struct {
	edge bool
	// inbound: an edge as its callee's sidecar reported it, kept for a
	// caller with no sidecar scraped here (a load generator, an ingress,
	// a plaintext caller of a PERMISSIVE port).
	inbound  bool
	from, to string
	version  string // service stats only
}

type agg struct {
	count, failed float64
	buckets       []bucket // increases, cumulative by bound
}

// New returns a collector; Run drives it.
func New(cfg Config) *Collector {
	if cfg.Interval <= 0 {
		cfg.Interval = 5 * time.Second
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 2 * time.Second
	}
	if cfg.Parallel <= 0 {
		cfg.Parallel = 8
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Collector{cfg: cfg, log: cfg.Logger.With("component", "meshstats"), prev: map[string]map[series]*sample{}, certs: map[string]instCert{}}
}

// Run scrapes every interval until ctx ends.
func (c *Collector) Run(ctx context.Context) {
	t := time.NewTicker(c.cfg.Interval)
	defer t.Stop()
	c.Scrape(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			c.Scrape(ctx)
		}
	}
}

type scraped struct {
	inst    api.Instance
	samples map[series]*sample
	cert    cert
	err     error
}

// Scrape runs one round: every instance with an admin address, at most
// Parallel at a time, each bounded by Timeout.
func (c *Collector) Scrape(ctx context.Context) {
	insts, err := c.cfg.Instances(ctx)
	if err != nil {
		c.log.Warn("listing instances for stats", "err", err)
		return
	}
	results := make([]scraped, 0, len(insts))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.cfg.Parallel)
	for _, in := range insts {
		if in.Admin == "" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s, ct, err := c.scrapeOne(ctx, in)
			mu.Lock()
			results = append(results, scraped{inst: in, samples: s, cert: ct, err: err})
			mu.Unlock()
		}()
	}
	wg.Wait()
	c.add(results, time.Now())
}

func (c *Collector) scrapeOne(ctx context.Context, in api.Instance) (map[series]*sample, cert, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+in.Admin+"/metrics", nil)
	if err != nil {
		return nil, cert{}, err
	}
	resp, err := c.cfg.Client.Do(req)
	if err != nil {
		return nil, cert{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, cert{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parse(resp.Body, in.Service)
}

func instKey(in api.Instance) string { return in.Service + "/" + in.ID }

// add folds one round's scrapes into the windows.
func (c *Collector) add(results []scraped, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := round{from: c.updated, to: now, aggs: map[aggKey]*agg{}, insts: map[aggKey]int{}, fails: map[failKey]float64{}}
	seen := map[string]bool{}
	c.sidecars, c.failed = len(results), 0
	for _, res := range results {
		key := instKey(res.inst)
		seen[key] = true
		if res.err != nil {
			c.failed++
			c.log.Debug("scrape failed", "instance", key, "admin", res.inst.Admin, "err", res.err)
			continue
		}
		c.certs[key] = instCert{inst: res.inst, cert: res.cert, scraped: now}
		version := res.inst.Labels["version"]
		r.insts[aggKey{to: res.inst.Service, version: version}]++
		prev, had := c.prev[key]
		c.prev[key] = res.samples
		if !had {
			continue // its totals so far are not this window's increase
		}
		for k, cur := range res.samples {
			d := increase(prev[k], cur)
			if d.count <= 0 {
				continue
			}
			if k.code != "" {
				r.fails[failKey{source: k.source, from: k.from, to: k.to, code: k.code, flags: k.flags}] += d.count
			}
			if k.to == "" {
				continue // answered by the sidecar before it had a destination
			}
			ak := aggKey{edge: k.source, from: k.from, to: k.to}
			if !k.source {
				ak.from, ak.version = "", version
				if k.from != "" {
					r.add(aggKey{edge: true, inbound: true, from: k.from, to: k.to}, k, d)
				}
			}
			r.add(ak, k, d)
		}
	}
	for key := range c.prev {
		if !seen[key] {
			delete(c.prev, key) // gone: a return starts from its totals again
		}
	}
	for key := range c.certs {
		if !seen[key] {
			delete(c.certs, key) // deregistered (or its admin address gone)
		}
	}
	if !c.updated.IsZero() {
		c.rounds = append(c.rounds, r)
	}
	c.updated = now
	for len(c.rounds) > 0 && now.Sub(c.rounds[0].from) > c.cfg.Window+c.cfg.Interval/2 {
		c.rounds = c.rounds[1:]
	}
}

// increase is cur minus prev, or cur when the counter reset (a restart).
func increase(prev, cur *sample) sample {
	if prev == nil || cur.count < prev.count {
		return *cur
	}
	d := sample{count: cur.count - prev.count}
	for _, b := range cur.buckets {
		pv := 0.0
		for _, pb := range prev.buckets {
			if pb.le == b.le {
				pv = pb.count
				break
			}
		}
		d.buckets = append(d.buckets, bucket{le: b.le, count: max(b.count-pv, 0)})
	}
	return d
}

func mergeBuckets(acc, add []bucket) []bucket {
	for _, b := range add {
		i := 0
		for i < len(acc) && acc[i].le < b.le {
			i++
		}
		if i < len(acc) && acc[i].le == b.le {
			acc[i].count += b.count
			continue
		}
		acc = append(acc, bucket{})
		copy(acc[i+1:], acc[i:])
		acc[i] = b
	}
	return acc
}

// add counts one series' increase d into the aggregate under ak.
func (r *round) add(ak aggKey, k series, d sample) {
	a := r.aggs[ak]
	if a == nil {
		a = &agg{}
		r.aggs[ak] = a
	}
	a.count += d.count
	if k.failed {
		a.failed += d.count
	}
	a.buckets = mergeBuckets(a.buckets, d.buckets)
}

// Snapshot returns the figures over the window.
func (c *Collector) Snapshot() api.Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := api.Stats{Updated: c.updated, Sidecars: c.sidecars, Unreachable: c.failed, Services: []api.ServiceStats{}, Edges: []api.EdgeStats{}, Failures: []api.FailureStats{},
		Certificates: certificates(c.certs, time.Now(), c.cfg.SPIFFEID)}
	if len(c.rounds) == 0 {
		return out
	}
	span := c.rounds[len(c.rounds)-1].to.Sub(c.rounds[0].from)
	out.WindowSeconds = span.Seconds()
	total := map[aggKey]*agg{}
	fails := map[failKey]float64{}
	for _, r := range c.rounds {
		for k, n := range r.fails {
			fails[k] += n
		}
		for k, a := range r.aggs {
			t := total[k]
			if t == nil {
				t = &agg{}
				total[k] = t
			}
			t.count += a.count
			t.failed += a.failed
			t.buckets = mergeBuckets(t.buckets, a.buckets)
		}
	}
	last := c.rounds[len(c.rounds)-1]
	for k := range last.insts {
		if _, ok := total[k]; !ok {
			total[k] = &agg{} // a version with no traffic still shows
		}
	}
	for k, a := range total {
		g := golden(a, span)
		if k.edge && k.inbound {
			// Only for a caller whose own sidecar reported nothing on
			// this edge: the caller's view is the one edges show.
			if _, seen := total[aggKey{edge: true, from: k.from, to: k.to}]; !seen {
				out.Edges = append(out.Edges, api.EdgeStats{Source: k.from, Destination: k.to, Reporter: "destination", Golden: g})
			}
			continue
		}
		if k.edge {
			out.Edges = append(out.Edges, api.EdgeStats{Source: k.from, Destination: k.to, Reporter: "source", Golden: g})
		} else {
			out.Services = append(out.Services, api.ServiceStats{Service: k.to, Version: k.version, Instances: last.insts[k], Golden: g})
		}
	}
	out.Failures = failures(fails, span)
	sort.Slice(out.Services, func(i, j int) bool {
		a, b := out.Services[i], out.Services[j]
		return a.Service < b.Service || a.Service == b.Service && a.Version < b.Version
	})
	sort.Slice(out.Edges, func(i, j int) bool {
		a, b := out.Edges[i], out.Edges[j]
		return a.Source < b.Source || a.Source == b.Source && a.Destination < b.Destination
	})
	return out
}

// failures lists the window's responses other than 2xx, most first, at
// most api.MaxFailures of them.
func failures(fails map[failKey]float64, span time.Duration) []api.FailureStats {
	out := make([]api.FailureStats, 0, len(fails))
	for k, n := range fails {
		f := api.FailureStats{Reporter: "destination", Source: k.from, Destination: k.to, Code: k.code, Flags: k.flags, Requests: int64(math.Round(n))}
		if k.source {
			f.Reporter = "source"
		}
		if span > 0 {
			f.RPS = n / span.Seconds()
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Requests != b.Requests {
			return a.Requests > b.Requests
		}
		return fmt.Sprint(a) < fmt.Sprint(b)
	})
	if len(out) > api.MaxFailures {
		out = out[:api.MaxFailures]
	}
	return out
}

func golden(a *agg, span time.Duration) api.Golden {
	g := api.Golden{Requests: int64(math.Round(a.count)), SuccessRate: 1}
	if span > 0 {
		g.RPS = a.count / span.Seconds()
	}
	if a.count > 0 {
		g.SuccessRate = 1 - a.failed/a.count
	}
	g.P50Ms = quantile(0.50, a.buckets, a.count) * 1000
	g.P95Ms = quantile(0.95, a.buckets, a.count) * 1000
	g.P99Ms = quantile(0.99, a.buckets, a.count) * 1000
	return g
}

// quantile interpolates linearly within the bucket holding rank q of
// total observations, as Prometheus' histogram_quantile does; a rank
// past the last finite bound answers that bound.
func quantile(q float64, bs []bucket, total float64) float64 {
	if len(bs) == 0 || total <= 0 {
		return 0
	}
	rank := q * total
	lo, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if b.count == below {
				return b.le
			}
			return lo + (b.le-lo)*(rank-below)/(b.count-below)
		}
		lo, below = b.le, b.count
	}
	return bs[len(bs)-1].le
}

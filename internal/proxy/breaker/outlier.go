package breaker

import (
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Clock reads the time; tests inject a fake one.
type Clock interface{ Now() time.Time }

// SystemClock is the real clock.
type SystemClock struct{}

// Now implements Clock.
func (SystemClock) Now() time.Time { return time.Now() }

// OutlierConfig says when an endpoint is ejected (Envoy's
// outlier_detection, passive only: it watches real requests). A zero
// threshold or enforcement turns its check off.
type OutlierConfig struct {
	// Consecutive5xx ejects after this many 5xx answers in a row.
	Consecutive5xx uint32
	// Enforcing5xx is the percentage (0..100) of such detections that eject.
	Enforcing5xx uint32
	// ConsecutiveGateway ejects after this many 502, 503 or 504 in a row.
	ConsecutiveGateway uint32
	// EnforcingGateway is the percentage of gateway detections that eject.
	EnforcingGateway uint32
	// SplitLocalOrigin counts failures with no response (connect failure,
	// reset, timeout) apart, against ConsecutiveLocalOrigin; when false
	// they count as gateway errors (Envoy's split_external_local_origin_errors).
	SplitLocalOrigin bool
	// ConsecutiveLocalOrigin ejects after this many local-origin failures
	// in a row (only with SplitLocalOrigin).
	ConsecutiveLocalOrigin uint32
	// EnforcingLocalOrigin is the percentage of local-origin detections that eject.
	EnforcingLocalOrigin uint32
	// Interval is the success-rate sweep period, and how often ejection
	// multipliers of healthy endpoints shrink.
	Interval time.Duration
	// BaseEjectionTime is the first ejection's length; the nth lasts n times it.
	BaseEjectionTime time.Duration
	// MaxEjectionTime caps an ejection's length (never below BaseEjectionTime).
	MaxEjectionTime time.Duration
	// MaxEjectionPercent caps the share of endpoints ejected at once, though
	// one endpoint may always be ejected.
	MaxEjectionPercent uint32
	// EnforcingSuccessRate is the percentage of success-rate detections
	// that eject; 0 turns the success-rate check off.
	EnforcingSuccessRate uint32
	// SuccessRateMinimumHosts is how many endpoints need SuccessRateRequestVolume
	// requests in an interval for the check to run.
	SuccessRateMinimumHosts uint32
	// SuccessRateRequestVolume is the requests an endpoint needs in an interval.
	SuccessRateRequestVolume uint32
	// SuccessRateStdevFactor, in thousandths: an endpoint whose success
	// rate is below mean - stdev*factor/1000 is ejected.
	SuccessRateStdevFactor uint32
}

// Result is how a request to an endpoint ended, as outlier detection sees it.
type Result uint8

const (
	Success     Result = iota // a response below 500
	Error5xx                  // a 5xx other than 502, 503, 504
	Gateway                   // 502, 503 or 504 from the endpoint
	LocalOrigin               // no response: connect failure, reset or timeout
)

// ResultOf classifies a response status.
func ResultOf(status int) Result {
	switch {
	case status == 502 || status == 503 || status == 504:
		return Gateway
	case status >= 500:
		return Error5xx
	}
	return Success
}

// Host is one endpoint's outlier state. It lives with the endpoint and so
// survives config updates.
type Host struct {
	consec5xx, consecGateway, consecLocal atomic.Uint32
	// ejectedUntil is unix ns; 0 when not ejected.
	ejectedUntil atomic.Int64
	// ejections is the multiplier of the next ejection's length.
	ejections atomic.Uint32
	// requests and successes in the current interval (success rate).
	requests, successes atomic.Uint32
	ejectedInInterval   atomic.Bool
}

// EjectedUntil is when the host's ejection ends (zero time if none).
func (h *Host) EjectedUntil() time.Time {
	if u := h.ejectedUntil.Load(); u != 0 {
		return time.Unix(0, u)
	}
	return time.Time{}
}

// Detector applies one cluster's OutlierConfig to its hosts. Record and
// Ejected use atomics only; ejecting takes a mutex, which is rare.
type Detector struct {
	cfg   OutlierConfig
	clock Clock
	hosts []*Host
	// onEject is called after each ejection (metrics); may be nil.
	onEject func()

	mu         sync.Mutex
	nextSweep  atomic.Int64
	anyEjected atomic.Bool
	total      atomic.Uint64
}

// NewDetector watches hosts. onEject, if set, is called after each ejection.
func NewDetector(cfg OutlierConfig, hosts []*Host, clock Clock, onEject func()) *Detector {
	if clock == nil {
		clock = SystemClock{}
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	d := &Detector{cfg: cfg, clock: clock, hosts: hosts, onEject: onEject}
	now := clock.Now().UnixNano()
	d.nextSweep.Store(now + int64(cfg.Interval))
	for _, h := range hosts {
		if u := h.ejectedUntil.Load(); u != 0 {
			d.anyEjected.Store(true)
		}
	}
	return d
}

// Config returns the detector's settings.
func (d *Detector) Config() OutlierConfig { return d.cfg }

// Ejections is how many ejections this detector made.
func (d *Detector) Ejections() uint64 { return d.total.Load() }

// Now reads the detector's clock.
func (d *Detector) Now() time.Time { return d.clock.Now() }

// Stamp is now in unix ns by the detector's clock: now itself when the
// clock is the system's, so the caller's reading is not taken twice.
func (d *Detector) Stamp(now time.Time) int64 {
	if _, ok := d.clock.(SystemClock); ok {
		return now.UnixNano()
	}
	return d.clock.Now().UnixNano()
}

// Ejected reports whether h is out at now (unix ns).
func (d *Detector) Ejected(h *Host, now int64) bool {
	if !d.anyEjected.Load() {
		return false
	}
	u := h.ejectedUntil.Load()
	return u != 0 && now < u
}

// AnyEjected is false when no host can be ejected, so pickers skip checks.
func (d *Detector) AnyEjected() bool { return d.anyEjected.Load() }

// Record counts one finished request on h, ejecting it when a
// consecutive-failure threshold is reached, and runs the interval sweep
// when it is due.
func (d *Detector) Record(h *Host, r Result, now int64) {
	c := &d.cfg
	if r == LocalOrigin && !c.SplitLocalOrigin {
		r = Gateway // Envoy maps an unsplit local failure to a gateway error
	}
	switch r {
	case Success:
		reset(&h.consec5xx)
		reset(&h.consecGateway)
		reset(&h.consecLocal)
		if c.EnforcingSuccessRate > 0 {
			h.successes.Add(1)
			h.requests.Add(1)
		}
	case LocalOrigin:
		if n := h.consecLocal.Add(1); c.ConsecutiveLocalOrigin > 0 && n == c.ConsecutiveLocalOrigin {
			d.eject(h, c.EnforcingLocalOrigin, now)
		}
	default:
		reset(&h.consecLocal) // the endpoint answered: its connections work
		if c.EnforcingSuccessRate > 0 {
			h.requests.Add(1)
		}
		if r == Gateway {
			if n := h.consecGateway.Add(1); c.ConsecutiveGateway > 0 && n == c.ConsecutiveGateway {
				d.eject(h, c.EnforcingGateway, now)
			}
		} else {
			reset(&h.consecGateway)
		}
		if n := h.consec5xx.Add(1); c.Consecutive5xx > 0 && n == c.Consecutive5xx {
			d.eject(h, c.Enforcing5xx, now)
		}
	}
	if next := d.nextSweep.Load(); now >= next && d.nextSweep.CompareAndSwap(next, now+int64(c.Interval)) {
		d.sweep(now)
	}
}

// reset stores 0 only when needed, so a healthy host's counters stay in
// the shared cache state.
func reset(v *atomic.Uint32) {
	if v.Load() != 0 {
		v.Store(0)
	}
}

func enforced(pct uint32) bool {
	return pct >= 100 || (pct > 0 && rand.Uint32N(100) < pct)
}

// eject takes h out unless it is already out, enforcement skips it, or
// the cap on ejected hosts is reached.
func (d *Detector) eject(h *Host, enforcing uint32, now int64) {
	h.consec5xx.Store(0)
	h.consecGateway.Store(0)
	h.consecLocal.Store(0)
	if !enforced(enforcing) {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ejectLocked(h, now)
}

func (d *Detector) ejectLocked(h *Host, now int64) bool {
	if u := h.ejectedUntil.Load(); u != 0 && now < u {
		return false
	}
	out := 0
	for _, o := range d.hosts {
		if u := o.ejectedUntil.Load(); u != 0 && now < u {
			out++
		}
	}
	// At least one host may always go (Envoy's rule), then the percentage.
	if out > 0 && uint64(out+1)*100 > uint64(d.cfg.MaxEjectionPercent)*uint64(len(d.hosts)) {
		return false
	}
	n := h.ejections.Add(1)
	dur := time.Duration(n) * d.cfg.BaseEjectionTime
	if limit := max(d.cfg.MaxEjectionTime, d.cfg.BaseEjectionTime); limit > 0 && dur > limit {
		dur = limit
	}
	h.ejectedUntil.Store(now + int64(dur))
	h.ejectedInInterval.Store(true)
	d.anyEjected.Store(true)
	d.total.Add(1)
	if d.onEject != nil {
		d.onEject()
	}
	return true
}

// sweep returns hosts whose time is up, shrinks the multipliers of hosts
// that stayed healthy, and runs the success-rate check.
func (d *Detector) sweep(now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	any := false
	for _, h := range d.hosts {
		u := h.ejectedUntil.Load()
		switch {
		case u != 0 && now >= u:
			h.ejectedUntil.Store(0)
		case u != 0:
			any = true
		case !h.ejectedInInterval.Load() && h.ejections.Load() > 0:
			h.ejections.Add(^uint32(0))
		}
		h.ejectedInInterval.Store(false)
	}
	d.anyEjected.Store(any)
	d.successRate(now)
}

// successRate ejects hosts whose success rate in the interval lies more
// than stdevFactor/1000 standard deviations below the mean.
func (d *Detector) successRate(now int64) {
	c := &d.cfg
	type sample struct {
		h    *Host
		rate float64
	}
	var samples []sample
	for _, h := range d.hosts {
		req, ok := h.requests.Swap(0), h.successes.Swap(0)
		if c.EnforcingSuccessRate == 0 || req == 0 || req < c.SuccessRateRequestVolume {
			continue
		}
		samples = append(samples, sample{h, 100 * float64(min(ok, req)) / float64(req)})
	}
	if c.EnforcingSuccessRate == 0 || len(samples) == 0 || uint32(len(samples)) < c.SuccessRateMinimumHosts {
		return
	}
	var sum float64
	for _, s := range samples {
		sum += s.rate
	}
	mean := sum / float64(len(samples))
	var v float64
	for _, s := range samples {
		v += (s.rate - mean) * (s.rate - mean)
	}
	limit := mean - math.Sqrt(v/float64(len(samples)))*float64(c.SuccessRateStdevFactor)/1000
	for _, s := range samples {
		if s.rate < limit && enforced(c.EnforcingSuccessRate) {
			d.ejectLocked(s.h, now)
		}
	}
}

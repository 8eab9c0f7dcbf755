package retry

import (
	"sync/atomic"
	"time"
)

// BudgetConfig is a cluster's retry budget, Linkerd's model: over a
// sliding window, retries may be at most Ratio of the requests plus a
// floor of MinPerSecond retries per second, so a few retries always work
// at low traffic and retries can never multiply the load of a service
// that is down. The zero value is the default budget, which is on.
type BudgetConfig struct {
	// Percent is the retries allowed as a percentage of requests, 0..100.
	// Zero means 20; a negative value means 0 % (only the floor).
	Percent float64
	// MinPerSecond is the floor of retries allowed per second whatever
	// the request volume. Zero means 10; negative means none.
	MinPerSecond int
	// Window is how far back requests and retries count. Zero means 10s.
	Window time.Duration
	// Disabled removes the cap: every retry the policy allows is sent.
	Disabled bool
}

const budgetSlots = 10

// Budget counts one cluster's requests and retries. It is safe for
// concurrent use and does not allocate; times come from the caller, so
// tests drive it with their own clock.
type Budget struct {
	ratio    float64
	floor    int64 // retries allowed per window whatever the volume
	slotNs   int64
	disabled bool
	slots    [budgetSlots]budgetSlot
}

type budgetSlot struct {
	epoch             atomic.Int64 // which slot-length interval it counts
	requests, retries atomic.Int64
}

// NewBudget returns a budget for c.
func NewBudget(c BudgetConfig) *Budget {
	pct, minPS, win := c.Percent, c.MinPerSecond, c.Window
	if pct == 0 {
		pct = 20
	}
	if minPS == 0 {
		minPS = 10
	}
	if win <= 0 {
		win = 10 * time.Second
	}
	b := &Budget{ratio: max(pct, 0) / 100, slotNs: int64(win) / budgetSlots, disabled: c.Disabled}
	if b.slotNs <= 0 {
		b.slotNs = 1
	}
	if minPS > 0 {
		b.floor = int64(float64(minPS) * win.Seconds())
	}
	return b
}

func (b *Budget) slot(now int64) *budgetSlot {
	epoch := now / b.slotNs
	s := &b.slots[epoch%budgetSlots]
	if old := s.epoch.Load(); old != epoch && s.epoch.CompareAndSwap(old, epoch) {
		// A racing Add between the swap and the reset is lost: a slot's
		// counts are an estimate, never a lock.
		s.requests.Store(0)
		s.retries.Store(0)
	}
	return s
}

// Request records one request (its first try) at now (Unix ns).
func (b *Budget) Request(now int64) {
	if b == nil || b.disabled {
		return
	}
	b.slot(now).requests.Add(1)
}

// Withdraw reports whether one more retry fits the budget at now, and
// counts it when it does.
func (b *Budget) Withdraw(now int64) bool {
	if b == nil || b.disabled {
		return true
	}
	cur := b.slot(now)
	epoch := now / b.slotNs
	var reqs, retries int64
	for i := range b.slots {
		s := &b.slots[i]
		if e := s.epoch.Load(); e > epoch-budgetSlots && e <= epoch {
			reqs += s.requests.Load()
			retries += s.retries.Load()
		}
	}
	if float64(retries) >= b.ratio*float64(reqs)+float64(b.floor) {
		return false
	}
	cur.retries.Add(1)
	return true
}

package sidecar

import (
	"fmt"
	"os"
	"syscall"

	"github.com/weft-mesh/weft/internal/proxy/listener"
)

// fdPlan splits RLIMIT_NOFILE between the data plane and what must keep
// working when the data plane is full: the admin port, xDS, registration,
// config reloads and the runtime's own fds.
type fdPlan struct {
	Limit   int // RLIMIT_NOFILE after raising the soft limit
	InUse   int // fds open when the plan was made (listeners, logs...)
	Reserve int // never given to data-plane connections
	Pipes   int // splice pipe pool cap (2 fds each)
	Conns   int // data-plane connections the budget admits
}

const (
	// fixedReserveFDs covers xDS and API streams, registration probes,
	// config and cache files, and the runtime (epoll, eventfd).
	fixedReserveFDs = 96
	// maxPipes caps the splice pipe pool: past it, transfers copy through
	// buffers, which measured nearly as fast (docs/BENCHMARKS.md).
	maxPipes = 128
	// listenerReserveConns caps what each listener holds back from the
	// shared budget for itself.
	listenerReserveConns = 64
)

// planFDs derives the data plane's fd budget from the fd limit.
func planFDs(limit, inUse int) fdPlan {
	p := fdPlan{Limit: limit, InUse: inUse}
	p.Reserve = fixedReserveFDs + adminMaxConns + limit/32
	avail := max(limit-inUse-p.Reserve, 0)
	p.Pipes = min(avail/64, maxPipes)
	p.Conns = max(avail-2*p.Pipes, 0) / listener.ConnFDs
	return p
}

// listenerReserve is how many connections each of n listeners holds back.
func (p fdPlan) listenerReserve(n int) int {
	if n == 0 {
		return 0
	}
	return max(min(p.Conns/(4*n), listenerReserveConns), 1)
}

// raiseNofile lifts the soft fd limit to the hard one, as most servers do
// (Go's os package does so at start too; a config or a wrapper may have
// lowered it since), and returns the limit in force.
func raiseNofile() (int, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, fmt.Errorf("getrlimit nofile: %w", err)
	}
	if rl.Cur < rl.Max {
		raised := rl
		raised.Cur = rl.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised); err == nil {
			rl = raised
		}
	}
	const maxInt = int(^uint(0) >> 1)
	if rl.Cur > uint64(maxInt) {
		return maxInt, nil
	}
	return int(rl.Cur), nil
}

// openFDs counts this process's open fds; -1 when /proc is unavailable.
func openFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}

// newFDBudget plans the fd budget for n data-plane listeners, applies its
// pipe cap, and returns the budget the listeners share with each one's
// reserve. nil: no budget (the limit is unknown).
func (s *Sidecar) newFDBudget(n int) (*listener.FDBudget, int) {
	limit, err := raiseNofile()
	if err != nil {
		s.log.Warn("fd limit unknown; data-plane fd budget disabled", "err", err)
		return nil, 0
	}
	inUse := openFDs()
	if inUse < 0 {
		inUse = 64
	}
	inUse += n + 1 // the listeners about to be bound, and the admin's
	p := planFDs(limit, inUse)
	listener.SetMaxPipes(p.Pipes)
	s.log.Info("fd budget", "limit", p.Limit, "inUse", p.InUse, "reserved", p.Reserve,
		"pipes", p.Pipes, "connections", p.Conns, "perListenerReserve", p.listenerReserve(n))
	return listener.NewFDBudget(p.Conns * listener.ConnFDs), p.listenerReserve(n)
}

func dataListeners(cfg *Config) int {
	n := len(cfg.Inbound) + len(cfg.Outbound.Ports)
	if cfg.Outbound.Proxy != "" {
		n++
	}
	if cfg.Outbound.Capture != nil {
		n++
	}
	return n
}

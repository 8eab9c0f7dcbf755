package controlplane

import (
	"context"
	"errors"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// livenessRetry spaces retries after a failed store call.
const livenessRetry = 500 * time.Millisecond

// livenessWork is one round's store calls, taken from the state under the
// lock and made without it.
type livenessWork struct {
	claim   []string        // nodes connected here, not yet claimed
	restore map[string]bool // nodes connected here that have Disconnected instances
	expired []string        // nodes gone longer than the grace
}

// run makes the store calls the stream events call for, until ctx ends,
// then releases this replica's claims. Streams closed because this
// replica stops are never judged: ctx ends first.
func (l *liveness) run(ctx context.Context) {
	l.loop(ctx)
	if l.lease != 0 {
		// ctx has ended: a short call of its own, or the lease's TTL does it.
		c, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if err := l.reg.DropReplicaLease(c, l.lease); err != nil {
			l.log.Warn("stream claims left to expire with their lease", "err", err, "ttl", l.leaseTTL)
		}
	}
}

// loop is run without the release: a replica that stops here has crashed.
func (l *liveness) loop(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		w, next := l.due()
		wait := next
		if renew := l.renewLease(ctx); renew > 0 && (wait <= 0 || renew < wait) {
			wait = renew
		}
		if err := l.do(ctx, w); err != nil {
			if ctx.Err() != nil {
				return
			}
			l.log.Warn("liveness update failed; retrying", "err", err, "retry", livenessRetry)
			if wait <= 0 || wait > livenessRetry {
				wait = livenessRetry
			}
		}
		if wait <= 0 {
			wait = time.Hour
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-l.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// due takes this round's work and returns how long until the next node's
// grace ends (0: none pending).
func (l *liveness) due() (livenessWork, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	var w livenessWork
	var next time.Duration
	for node, n := range l.nodes {
		if n.open > 0 {
			if l.replica != "" && !n.claimed {
				n.claimed = true
				w.claim = append(w.claim, node)
			}
			if l.down[node] {
				delete(l.down, node)
				if w.restore == nil {
					w.restore = map[string]bool{}
				}
				w.restore[node] = true
			}
			continue
		}
		left := n.lost.Add(l.grace).Sub(now)
		if left <= 0 {
			delete(l.nodes, node)
			w.expired = append(w.expired, node)
		} else if next == 0 || left < next {
			next = left
		}
	}
	return w, next
}

// do makes one round's store calls. Whatever fails is put back, to be
// retried.
func (l *liveness) do(ctx context.Context, w livenessWork) error {
	var errs []error
	if len(w.claim) > 0 && l.lease == 0 {
		if err := l.op(ctx, func(c context.Context) (err error) {
			l.lease, err = l.reg.ReplicaLease(c, l.leaseTTL)
			return err
		}); err != nil {
			l.unclaim(w.claim)
			return err
		}
		l.renewed = l.now()
	}
	for i, node := range w.claim {
		if err := l.op(ctx, func(c context.Context) error { return l.reg.ClaimStream(c, node, l.replica, l.lease) }); err != nil {
			l.unclaim(w.claim[i:])
			errs = append(errs, err)
			break
		}
	}
	if len(w.restore) > 0 {
		if err := l.setDisconnected(ctx, w.restore, false); err != nil {
			l.mu.Lock()
			for node := range w.restore {
				l.down[node] = true
			}
			l.mu.Unlock()
			errs = append(errs, err)
		}
	}
	if len(w.expired) > 0 {
		if err := l.expire(ctx, w.expired); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// renewLease keeps this replica's lease alive and returns how long until
// the next renewal (0: no lease). A lease found expired (this replica was
// cut off from the store for its whole TTL) took its claims with it: every
// connected node is claimed again under a new one.
func (l *liveness) renewLease(ctx context.Context) time.Duration {
	if l.lease == 0 {
		return 0
	}
	every := l.leaseTTL / 3
	if left := l.renewed.Add(every).Sub(l.now()); left > 0 {
		return left
	}
	err := l.op(ctx, func(c context.Context) error { return l.reg.KeepReplicaLease(c, l.lease) })
	switch {
	case err == nil:
		l.renewed = l.now()
		return every
	case errors.Is(err, store.ErrNotFound):
		l.log.Warn("replica lease expired; claiming this replica's streams again", "ttl", l.leaseTTL)
		l.lease = 0
		l.mu.Lock()
		for _, n := range l.nodes {
			n.claimed = false
		}
		l.mu.Unlock()
		return time.Millisecond // claim at once, in this round's due()
	default:
		if ctx.Err() == nil {
			l.log.Warn("renewing the replica lease failed; retrying", "err", err, "retry", livenessRetry)
		}
		return livenessRetry
	}
}

func (l *liveness) op(ctx context.Context, f func(context.Context) error) error {
	c, cancel := context.WithTimeout(ctx, livenessOpTimeout)
	defer cancel()
	return f(c)
}

func (l *liveness) unclaim(nodes []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, node := range nodes {
		if n := l.nodes[node]; n != nil {
			n.claimed = false
		}
	}
}

func (l *liveness) setDisconnected(ctx context.Context, nodes map[string]bool, down bool) error {
	var changed int
	err := l.op(ctx, func(c context.Context) (err error) {
		changed, err = l.reg.SetDisconnected(c, nodes, down)
		return err
	})
	if changed > 0 {
		if down {
			l.log.Warn("instances out of rotation: their sidecar's xDS stream dropped and it did not come back", "instances", changed, "nodes", keys(nodes), "grace", l.grace)
		} else {
			l.log.Info("instances back in rotation: their sidecar reconnected", "instances", changed, "nodes", keys(nodes))
		}
	}
	return err
}

// expire marks the instances of nodes gone longer than the grace, unless
// another replica holds their stream now.
func (l *liveness) expire(ctx context.Context, nodes []string) error {
	gone := map[string]bool{}
	for _, node := range nodes {
		holder := ""
		if l.replica != "" {
			if err := l.op(ctx, func(c context.Context) (err error) {
				holder, err = l.reg.StreamHolder(c, node)
				return err
			}); err != nil {
				l.requeue(nodes)
				return err
			}
		}
		if holder == "" || holder == l.replica {
			gone[node] = true
		}
	}
	if err := l.setDisconnected(ctx, gone, true); err != nil {
		l.requeue(nodes)
		return err
	}
	// A node that reconnected here while it was being marked is restored
	// at once rather than after the next rebuild.
	back := map[string]bool{}
	l.mu.Lock()
	for node := range gone {
		if n := l.nodes[node]; n != nil && n.open > 0 {
			back[node] = true
		}
	}
	l.mu.Unlock()
	if len(back) > 0 {
		if err := l.setDisconnected(ctx, back, false); err != nil {
			return err
		}
	}
	if l.replica != "" {
		for node := range gone {
			if err := l.op(ctx, func(c context.Context) error { return l.reg.ReleaseStream(c, node) }); err != nil {
				return err
			}
		}
	}
	return nil
}

// requeue puts back nodes whose expiry failed, unless they came back.
func (l *liveness) requeue(nodes []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lost := l.now().Add(-l.grace)
	for _, node := range nodes {
		if l.nodes[node] == nil {
			l.nodes[node] = &nodeStreams{lost: lost}
		}
	}
}

// keys lists up to ten of m's keys, for a log line of bounded size.
func keys(m map[string]bool) []string {
	out := make([]string, 0, min(len(m), 10))
	for k := range m {
		if len(out) == 10 {
			out = append(out, "...")
			break
		}
		out = append(out, k)
	}
	return out
}

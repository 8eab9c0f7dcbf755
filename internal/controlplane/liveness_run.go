package controlplane

import (
	"context"
	"errors"
	"time"
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

// run makes the store calls the stream events call for, until ctx ends.
// Streams closed because this replica stops are never judged: ctx ends
// first.
func (l *liveness) run(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		w, next := l.due()
		wait := next
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
	for i, node := range w.claim {
		if err := l.op(ctx, func(c context.Context) error { return l.reg.ClaimStream(c, node, l.replica) }); err != nil {
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

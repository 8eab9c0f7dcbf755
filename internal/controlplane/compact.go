package controlplane

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// etcd keeps every revision of every key until it is compacted, and once
// its space quota (2 GiB by default) fills, it refuses all writes: no
// apply, no registration, no heartbeat. Registry renewals and applies
// write steadily, so the control plane compacts.
//
// The config history that `weft history` and rollback read is not etcd's
// revision history but keys of its own (config/history/N), so compaction
// never loses it. Old revisions serve only watches resuming from them; a
// watch older than the retained window fails with ErrCompacted and the
// syncer rebuilds from current state, losing nothing.

// compactor compacts the store every interval to keep the newest retain
// revisions. Several replicas on one external etcd each compact; the
// loser of a race sees ErrCompacted, which is success.
type compactor struct {
	st       store.Store
	interval time.Duration
	retain   int64
	log      *slog.Logger
	last     int64 // the revision last compacted to
}

func (c *compactor) run(ctx context.Context) error {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := c.once(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("compaction failed; will retry", "err", err, "retry", c.interval)
		}
	}
}

// once compacts to the newest revision minus retain, if that moved on.
func (c *compactor) once(ctx context.Context) error {
	rev, err := c.st.Revision(ctx)
	if err != nil {
		return err
	}
	to := rev - c.retain
	if to <= c.last {
		return nil
	}
	if err := c.st.Compact(ctx, to); err != nil && !errors.Is(err, store.ErrCompacted) {
		return err
	}
	c.last = to
	c.log.Debug("compacted", "revision", to)
	return nil
}

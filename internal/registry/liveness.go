package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/weft-mesh/weft/internal/store"
)

// SetDisconnected sets Instance.Disconnected to down on every instance
// whose Node is in nodes, and returns how many it changed. Each write is
// conditional on the instance being unchanged since it was read, and keeps
// its lease: a heartbeat or deregistration that lands meanwhile wins.
func (r *Registry) SetDisconnected(ctx context.Context, nodes map[string]bool, down bool) (int, error) {
	kvs, _, err := r.st.List(ctx, prefix)
	if err != nil {
		return 0, fmt.Errorf("mark disconnected: %w", err)
	}
	changed := 0
	var errs []error
	for _, kv := range kvs {
		var in Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil || in.Node == "" || !nodes[in.Node] || in.Disconnected == down {
			continue
		}
		in.Disconnected = down
		b, err := json.Marshal(in)
		if err != nil {
			errs = append(errs, fmt.Errorf("mark disconnected %s: %w", kv.Key, err))
			continue
		}
		opts := []store.PutOption{store.IfModRevision(kv.ModRevision)}
		if kv.Lease != 0 {
			opts = append(opts, store.WithLease(kv.Lease))
		}
		switch _, err := r.st.Put(ctx, kv.Key, b, opts...); {
		case errors.Is(err, store.ErrConflict):
			// A heartbeat, deregistration or another replica got there first.
		case err != nil:
			errs = append(errs, fmt.Errorf("mark disconnected %s: %w", kv.Key, err))
		default:
			changed++
		}
	}
	return changed, errors.Join(errs...)
}

// streamPrefix holds, per node, the control-plane replica that last
// accepted its xDS stream, so that with several replicas only the one
// that held the stream last decides whether the node is gone: a sidecar
// that moved to another replica is not taken out of rotation.
const streamPrefix = "xds-streams/"

// ClaimStream records that replica now holds node's stream.
func (r *Registry) ClaimStream(ctx context.Context, node, replica string) error {
	if _, err := r.st.Put(ctx, streamPrefix+node, []byte(replica)); err != nil {
		return fmt.Errorf("claim stream of %s: %w", node, err)
	}
	return nil
}

// StreamHolder returns the replica that last claimed node's stream ("":
// none).
func (r *Registry) StreamHolder(ctx context.Context, node string) (string, error) {
	kv, err := r.st.Get(ctx, streamPrefix+node)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "", nil
	case err != nil:
		return "", fmt.Errorf("stream holder of %s: %w", node, err)
	}
	return string(kv.Value), nil
}

// ReleaseStream forgets node's stream holder once it has been decided on.
func (r *Registry) ReleaseStream(ctx context.Context, node string) error {
	if _, err := r.st.Delete(ctx, streamPrefix+node); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("release stream of %s: %w", node, err)
	}
	return nil
}

package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

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

// ClaimStream records that replica now holds node's stream. The claim is
// held by lease, the replica's own (ReplicaLease): a replica that crashes
// leaves no claims behind once its lease expires. 0 stores it without one.
func (r *Registry) ClaimStream(ctx context.Context, node, replica string, lease int64) error {
	var opts []store.PutOption
	if lease != 0 {
		opts = append(opts, store.WithLease(lease))
	}
	if _, err := r.st.Put(ctx, streamPrefix+node, []byte(replica), opts...); err != nil {
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

// ReplicaLease grants a lease of ttl for one replica's stream claims.
func (r *Registry) ReplicaLease(ctx context.Context, ttl time.Duration) (int64, error) {
	lease, err := r.st.Grant(ctx, int64((ttl+time.Second-1)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("replica lease: %w", err)
	}
	return lease, nil
}

// KeepReplicaLease renews a replica's lease; store.ErrNotFound means it
// expired, and with it every claim it held.
func (r *Registry) KeepReplicaLease(ctx context.Context, lease int64) error {
	if err := r.st.KeepAliveOnce(ctx, lease); err != nil {
		return fmt.Errorf("renew replica lease: %w", err)
	}
	return nil
}

// DropReplicaLease revokes a replica's lease, releasing its claims at once
// (a clean stop: its sidecars reconnect to other replicas, which claim them).
func (r *Registry) DropReplicaLease(ctx context.Context, lease int64) error {
	if err := r.st.Revoke(ctx, lease); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("revoke replica lease: %w", err)
	}
	return nil
}

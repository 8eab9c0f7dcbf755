// Package store keeps the control plane's state: declarative resources,
// revisions and registry leases. There is one implementation, on etcd, with
// two deployments: an embedded single-node server for one machine, and an
// external cluster shared by several control-plane replicas.
package store

import (
	"context"
	"errors"
)

// Errors.
var (
	ErrNotFound  = errors.New("store: key not found")
	ErrConflict  = errors.New("store: revision conflict")
	ErrCompacted = errors.New("store: revision compacted")
)

// KV is one stored key.
type KV struct {
	Key            string
	Value          []byte
	CreateRevision int64
	ModRevision    int64
	Lease          int64
}

// EventType says what happened to a key.
type EventType uint8

const (
	EventPut EventType = iota
	EventDelete
)

// Event is one change seen by Watch. A final Event with Err set (for
// example ErrCompacted) precedes the channel closing on failure.
type Event struct {
	Type     EventType
	KV       KV
	Revision int64
	Err      error
}

// PutOption modifies a Put.
type PutOption func(*putOptions)

type putOptions struct {
	lease       int64
	ifModRev    int64
	ifModRevSet bool
}

// WithLease attaches the key to a lease: it is deleted when the lease ends.
func WithLease(id int64) PutOption { return func(o *putOptions) { o.lease = id } }

// IfModRevision makes the Put succeed only while the key's mod revision is
// rev (0: only if the key does not exist); otherwise it fails with
// ErrConflict. This is optimistic concurrency for read-modify-write.
func IfModRevision(rev int64) PutOption {
	return func(o *putOptions) { o.ifModRev, o.ifModRevSet = rev, true }
}

// Store is the state interface the control plane uses. Keys are relative to
// the store's prefix. Every call honours ctx and has a default timeout.
type Store interface {
	Get(ctx context.Context, key string) (KV, error)
	// List returns keys under prefix, and the store revision they were read at.
	List(ctx context.Context, prefix string) ([]KV, int64, error)
	Put(ctx context.Context, key string, value []byte, opts ...PutOption) (int64, error)
	// Delete removes key and returns the new revision (ErrNotFound if absent).
	Delete(ctx context.Context, key string) (int64, error)
	// Watch streams changes under prefix after revision fromRev (0: from
	// now). It survives reconnects without missing events; the channel
	// closes when ctx ends or after an Event carrying Err.
	Watch(ctx context.Context, prefix string, fromRev int64) <-chan Event
	Grant(ctx context.Context, ttlSeconds int64) (int64, error)
	KeepAliveOnce(ctx context.Context, lease int64) error
	Revoke(ctx context.Context, lease int64) error
	// Compact discards history before rev; ErrCompacted if it already was.
	Compact(ctx context.Context, rev int64) error
	// Revision is the store's current revision.
	Revision(ctx context.Context) (int64, error)
	Close() error
}

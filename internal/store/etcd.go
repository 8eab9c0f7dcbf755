package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap/zapcore"
)

// DefaultTimeout bounds a call whose ctx has no deadline.
const DefaultTimeout = 5 * time.Second

// Prefix is where Weft's keys live in etcd.
const Prefix = "/weft/"

// Etcd is the Store on an etcd v3 cluster.
type Etcd struct {
	cli     *clientv3.Client
	prefix  string
	onClose func()
	// quiet demotes the client's log once Close begins.
	quiet *atomicBool
	// watches are the goroutines Watch started; Close ends them (done)
	// and waits, so nothing of the store runs after it.
	watches   sync.WaitGroup
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

var _ Store = (*Etcd)(nil)

// OpenRemote connects to an external etcd cluster. dialTimeout zero means
// DefaultTimeout. The client's warnings and errors go to log (nil:
// slog.Default()) with component=etcd.
func OpenRemote(ctx context.Context, endpoints []string, dialTimeout time.Duration, log *slog.Logger) (*Etcd, error) {
	return OpenRemoteTLS(ctx, endpoints, EtcdTLS{}, dialTimeout, log)
}

// OpenRemoteTLS is OpenRemote over TLS: https:// endpoints are checked
// against sec's CA (or the system's roots), and sec's client certificate
// is presented. With TLS settings every endpoint must be https://, so no
// endpoint is silently dialled in plaintext.
func OpenRemoteTLS(ctx context.Context, endpoints []string, sec EtcdTLS, dialTimeout time.Duration, log *slog.Logger) (*Etcd, error) {
	tlsCfg, err := remoteTLS(endpoints, sec)
	if err != nil {
		return nil, err
	}
	if dialTimeout <= 0 {
		dialTimeout = DefaultTimeout
	}
	if log == nil {
		log = slog.Default()
	}
	zl, quiet := newZapLogger(log.With("component", "etcd"), zapcore.WarnLevel)
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: endpoints, DialTimeout: dialTimeout, Context: ctx,
		TLS:                tlsCfg,
		Logger:             zl,
		MaxCallSendMsgSize: 4 << 20, MaxCallRecvMsgSize: 64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open etcd %v: %w", endpoints, err)
	}
	// clientv3.New does not wait for a connection; prove the cluster answers.
	sctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	if _, err := cli.Status(sctx, endpoints[0]); err != nil {
		cli.Close()
		return nil, fmt.Errorf("open etcd %v: %w", endpoints, err)
	}
	return &Etcd{cli: cli, prefix: Prefix, quiet: quiet, done: make(chan struct{})}, nil
}

// remoteTLS is the client TLS config for endpoints: nil for plaintext
// (http:// endpoints and no settings); refused when they disagree.
func remoteTLS(endpoints []string, sec EtcdTLS) (*tls.Config, error) {
	var https, plain []string
	for _, e := range endpoints {
		switch {
		case strings.HasPrefix(e, "https://"):
			https = append(https, e)
		default:
			plain = append(plain, e)
		}
	}
	if len(https) > 0 && len(plain) > 0 {
		return nil, fmt.Errorf("etcd endpoints: %v are https:// and %v are not; use one scheme for the cluster", https, plain)
	}
	if !sec.Enabled() && len(https) == 0 {
		return nil, nil
	}
	if len(plain) > 0 {
		return nil, fmt.Errorf("etcd endpoints: TLS files are given, so every endpoint must be https://; got %v", plain)
	}
	return sec.Config()
}

func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}

func (e *Etcd) kv(k *kvLike) KV {
	return KV{Key: strings.TrimPrefix(string(k.Key), e.prefix), Value: k.Value,
		CreateRevision: k.CreateRevision, ModRevision: k.ModRevision, Lease: k.Lease}
}

// Get implements Store.
func (e *Etcd) Get(ctx context.Context, key string) (KV, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.prefix+key)
	if err != nil {
		return KV{}, fmt.Errorf("store get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return KV{}, fmt.Errorf("store get %s: %w", key, ErrNotFound)
	}
	return e.kv(resp.Kvs[0]), nil
}

// List implements Store.
func (e *Etcd) List(ctx context.Context, prefix string) ([]KV, int64, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := e.cli.Get(ctx, e.prefix+prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return nil, 0, fmt.Errorf("store list %s: %w", prefix, err)
	}
	out := make([]KV, 0, len(resp.Kvs))
	for _, k := range resp.Kvs {
		out = append(out, e.kv(k))
	}
	return out, resp.Header.Revision, nil
}

// Put implements Store.
func (e *Etcd) Put(ctx context.Context, key string, value []byte, opts ...PutOption) (int64, error) {
	var o putOptions
	for _, f := range opts {
		f(&o)
	}
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	var popts []clientv3.OpOption
	if o.lease != 0 {
		popts = append(popts, clientv3.WithLease(clientv3.LeaseID(o.lease)))
	}
	put := clientv3.OpPut(e.prefix+key, string(value), popts...)
	if !o.ifModRevSet {
		resp, err := e.cli.Do(ctx, put)
		if err != nil {
			return 0, fmt.Errorf("store put %s: %w", key, err)
		}
		return resp.Put().Header.Revision, nil
	}
	resp, err := e.cli.Txn(ctx).
		If(clientv3.Compare(clientv3.ModRevision(e.prefix+key), "=", o.ifModRev)).
		Then(put).Commit()
	if err != nil {
		return 0, fmt.Errorf("store put %s: %w", key, err)
	}
	if !resp.Succeeded {
		return 0, fmt.Errorf("store put %s: %w", key, ErrConflict)
	}
	return resp.Header.Revision, nil
}

// Delete implements Store.
func (e *Etcd) Delete(ctx context.Context, key string) (int64, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := e.cli.Delete(ctx, e.prefix+key)
	if err != nil {
		return 0, fmt.Errorf("store delete %s: %w", key, err)
	}
	if resp.Deleted == 0 {
		return 0, fmt.Errorf("store delete %s: %w", key, ErrNotFound)
	}
	return resp.Header.Revision, nil
}

// Watch implements Store. The etcd client resumes a broken watch from the
// last revision it delivered, so a reconnect loses nothing.
func (e *Etcd) Watch(ctx context.Context, prefix string, fromRev int64) <-chan Event {
	out := make(chan Event, 64)
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV()}
	if fromRev > 0 {
		opts = append(opts, clientv3.WithRev(fromRev+1))
	}
	wctx := clientv3.WithRequireLeader(ctx)
	wch := e.cli.Watch(wctx, e.prefix+prefix, opts...)
	e.watches.Add(1)
	go func() {
		defer e.watches.Done()
		defer close(out)
		for resp := range wch {
			if err := resp.Err(); err != nil {
				if errors.Is(err, rpctypes.ErrCompacted) {
					err = fmt.Errorf("watch %s from %d: %w (compacted to %d)", prefix, fromRev, ErrCompacted, resp.CompactRevision)
				}
				e.send(ctx, out, Event{Err: err})
				return
			}
			for _, ev := range resp.Events {
				e2 := Event{Type: EventPut, KV: e.kv(ev.Kv), Revision: ev.Kv.ModRevision}
				if ev.Type == clientv3.EventTypeDelete {
					e2.Type, e2.Revision = EventDelete, resp.Header.Revision
				}
				if !e.send(ctx, out, e2) {
					return
				}
			}
		}
	}()
	return out
}

func (e *Etcd) send(ctx context.Context, ch chan<- Event, ev Event) bool {
	select {
	case ch <- ev:
		return true
	case <-ctx.Done():
		return false
	case <-e.done:
		return false
	}
}

// Grant implements Store.
func (e *Etcd) Grant(ctx context.Context, ttlSeconds int64) (int64, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	resp, err := e.cli.Grant(ctx, ttlSeconds)
	if err != nil {
		return 0, fmt.Errorf("store grant: %w", err)
	}
	return int64(resp.ID), nil
}

// KeepAliveOnce implements Store: one renewal, driven by the registry's
// heartbeat rather than a background stream per lease.
func (e *Etcd) KeepAliveOnce(ctx context.Context, lease int64) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := e.cli.KeepAliveOnce(ctx, clientv3.LeaseID(lease)); err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			return fmt.Errorf("store keepalive %x: %w", lease, ErrNotFound)
		}
		return fmt.Errorf("store keepalive %x: %w", lease, err)
	}
	return nil
}

// Revoke implements Store.
func (e *Etcd) Revoke(ctx context.Context, lease int64) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := e.cli.Revoke(ctx, clientv3.LeaseID(lease)); err != nil {
		return fmt.Errorf("store revoke %x: %w", lease, err)
	}
	return nil
}

// Compact implements Store.
func (e *Etcd) Compact(ctx context.Context, rev int64) error {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	if _, err := e.cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return fmt.Errorf("store compact %d: %w", rev, ErrCompacted)
		}
		return fmt.Errorf("store compact %d: %w", rev, err)
	}
	return nil
}

// Revision implements Store.
func (e *Etcd) Revision(ctx context.Context) (int64, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	// A read of one absent key is the cheapest request that returns the
	// cluster's header.
	resp, err := e.cli.Get(ctx, e.prefix+"revision", clientv3.WithCountOnly())
	if err != nil {
		return 0, fmt.Errorf("store revision: %w", err)
	}
	return resp.Header.Revision, nil
}

// Close implements Store; an embedded server stops too. It returns once
// the watch goroutines have ended (closing the client closes their
// channels).
func (e *Etcd) Close() error {
	e.closeOnce.Do(func() {
		e.quiet.Store(true)
		close(e.done)
		e.closeErr = e.cli.Close()
		e.watches.Wait()
		if e.onClose != nil {
			e.onClose()
		}
	})
	return e.closeErr
}

type kvLike = mvccpb.KeyValue

type atomicBool = atomic.Bool

// Package registry knows every service instance: sidecars register their
// instance under an etcd lease and keep it alive with heartbeats, so a dead
// sidecar's instance expires within the lease TTL, and a graceful shutdown
// removes it at once.
package registry

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// DefaultTTL is how long an instance outlives its last heartbeat.
const DefaultTTL = 10 * time.Second

// Instance is one registered service instance: usually a sidecar's inbound
// address in front of one app process.
type Instance struct {
	Service string            `json:"service"`
	ID      string            `json:"id"` // unique per service, e.g. the node name
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Labels  map[string]string `json:"labels,omitempty"` // version: v2, ...
	Zone    string            `json:"zone,omitempty"`
	// Ready is false while the sidecar's probe of its app fails: the
	// instance stays known but receives no traffic.
	Ready bool `json:"ready"`
	// Node is the xDS node id of the sidecar holding the instance, which
	// links its stream to it ("": no link; only the lease expires it).
	Node string `json:"node,omitempty"`
	// Disconnected marks an instance whose sidecar's xDS stream dropped
	// and did not come back, nor heartbeat, within the control plane's
	// grace: it gets no traffic. The next heartbeat or reconnect clears it.
	Disconnected bool `json:"disconnected,omitempty"`
	// Admin is the sidecar's admin listener (host:port, "" when off),
	// which `weft explain --from` calls.
	Admin string `json:"admin,omitempty"`
	// MTLS is set by a sidecar that has a workload certificate: its
	// inbound port takes mesh mTLS, so callers dial it with mTLS and check
	// that its identity is the service's (spiffe://TD/ns/NS/sa/SERVICE).
	MTLS bool `json:"mtls,omitempty"`
	// Principal is the SPIFFE ID of the verified client certificate that
	// registered the instance, as the control plane saw it ("" when the
	// operator registered it). Set by the control plane; a value a
	// registration sends is ignored.
	Principal string `json:"principal,omitempty"`
}

// maxNodeLen caps Instance.Node, as the xDS server does not.
const maxNodeLen = 256

// Validate reports every invalid field.
func (in *Instance) Validate() error {
	var errs []error
	if in.Service == "" {
		errs = append(errs, errors.New("service: must not be empty"))
	}
	if in.ID == "" {
		errs = append(errs, errors.New("id: must not be empty"))
	}
	if net.ParseIP(in.Address) == nil {
		errs = append(errs, fmt.Errorf("address: must be an IP address; got %q", in.Address))
	}
	if len(in.Node) > maxNodeLen {
		errs = append(errs, fmt.Errorf("node: must be at most %d bytes; got %d", maxNodeLen, len(in.Node)))
	}
	if in.Admin != "" {
		if _, _, err := net.SplitHostPort(in.Admin); err != nil || len(in.Admin) > maxNodeLen {
			errs = append(errs, fmt.Errorf("admin: must be host:port of at most %d bytes; got %q", maxNodeLen, in.Admin))
		}
	}
	if in.Port < 1 || in.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: must be 1..65535; got %d", in.Port))
	}
	return errors.Join(errs...)
}

// Endpoint is host:port.
func (in *Instance) Endpoint() string { return net.JoinHostPort(in.Address, strconv.Itoa(in.Port)) }

const prefix = "registry/"

func key(service, id string) string { return prefix + service + "/" + id }

// Registry reads and writes instances in a store.
type Registry struct {
	st  store.Store
	ttl time.Duration
}

// New returns a registry on st. ttl 0 means DefaultTTL.
func New(st store.Store, ttl time.Duration) *Registry {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return &Registry{st: st, ttl: ttl}
}

// register writes in under a fresh lease and returns the lease.
func (r *Registry) register(ctx context.Context, in Instance, b []byte) (int64, error) {
	secs := int64((r.ttl + time.Second - 1) / time.Second)
	id, err := r.st.Grant(ctx, secs)
	if err != nil {
		return 0, fmt.Errorf("register %s/%s: %w", in.Service, in.ID, err)
	}
	if _, err := r.st.Put(ctx, key(in.Service, in.ID), b, store.WithLease(id)); err != nil {
		r.st.Revoke(ctx, id)
		return 0, fmt.Errorf("register %s/%s: %w", in.Service, in.ID, err)
	}
	return id, nil
}

// Instances lists the registered instances of service ("" for all), sorted,
// with the store revision they were read at.
func (r *Registry) Instances(ctx context.Context, service string) ([]Instance, int64, error) {
	p := prefix
	if service != "" {
		p += service + "/"
	}
	kvs, rev, err := r.st.List(ctx, p)
	if err != nil {
		return nil, 0, fmt.Errorf("list instances: %w", err)
	}
	out := make([]Instance, 0, len(kvs))
	for _, kv := range kvs {
		var in Instance
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			return nil, 0, fmt.Errorf("list instances: %s: %w", kv.Key, err)
		}
		out = append(out, in)
	}
	sort.Slice(out, func(a, b int) bool {
		if out[a].Service != out[b].Service {
			return out[a].Service < out[b].Service
		}
		return out[a].ID < out[b].ID
	})
	return out, rev, nil
}

// Watch reports instance changes after revision rev; each event carries
// the service whose endpoints changed.
func (r *Registry) Watch(ctx context.Context, rev int64) <-chan store.Event {
	return r.st.Watch(ctx, prefix, rev)
}

// Upsert registers an instance or renews its registration: the one
// operation a sidecar's heartbeat needs, served by any control-plane
// replica, because the lease lives in the shared store. It renews lease
// (0: none yet) and writes in only when it changed, so a heartbeat costs no
// write and wakes no watcher. A lease that expired (a sidecar cut off
// longer than the TTL) is replaced. A heartbeat proves the sidecar alive,
// so it clears Disconnected. It returns the lease now holding in.
func (r *Registry) Upsert(ctx context.Context, in Instance, lease int64) (int64, error) {
	in.Disconnected = false
	if err := in.Validate(); err != nil {
		return 0, fmt.Errorf("register: %w", err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		return 0, fmt.Errorf("register: %w", err)
	}
	if lease != 0 {
		err := r.st.KeepAliveOnce(ctx, lease)
		switch {
		case errors.Is(err, store.ErrNotFound):
			lease = 0
		case err != nil:
			return 0, fmt.Errorf("register %s/%s: %w", in.Service, in.ID, err)
		}
	}
	if lease == 0 {
		return r.register(ctx, in, b)
	}
	cur, err := r.st.Get(ctx, key(in.Service, in.ID))
	if err == nil && cur.Lease == lease && bytes.Equal(cur.Value, b) {
		return lease, nil
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return 0, fmt.Errorf("register %s/%s: %w", in.Service, in.ID, err)
	}
	if _, err := r.st.Put(ctx, key(in.Service, in.ID), b, store.WithLease(lease)); err != nil {
		return 0, fmt.Errorf("register %s/%s: %w", in.Service, in.ID, err)
	}
	return lease, nil
}

// Remove deregisters an instance by its lease (graceful shutdown).
func (r *Registry) Remove(ctx context.Context, service, id string, lease int64) error {
	if lease != 0 {
		if err := r.st.Revoke(ctx, lease); err != nil && !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("deregister %s/%s: %w", service, id, err)
		}
	}
	if _, err := r.st.Delete(ctx, key(service, id)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("deregister %s/%s: %w", service, id, err)
	}
	return nil
}

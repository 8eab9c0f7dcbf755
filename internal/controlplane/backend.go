package controlplane

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/weft-mesh/weft/internal/api"
	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/meshstats"
	"github.com/weft-mesh/weft/internal/meshtap"
	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/xds/server"
)

// backend implements apiserver.Backend on the store, the registry and the xDS
// server's view of its proxies.
type backend struct {
	cs  *configStore
	reg *registry.Registry
	xds *server.Server
	ttl int64 // lease TTL in seconds, told to registering sidecars
	// certs is the CA with its join tokens.
	certs *certs
	// stats scrapes the sidecars for the mesh's golden signals.
	stats *meshstats.Collector
	// tap streams the sidecars' live requests (weft tap).
	tap *meshtap.Tapper
}

// Stats returns the mesh's golden signals over the collector's window.
func (b *backend) Stats(context.Context) (api.Stats, error) { return b.stats.Snapshot(), nil }

// allInstances lists the instances of every service, for scraping.
func allInstances(ctx context.Context, reg *registry.Registry) ([]api.Instance, error) {
	ins, _, err := reg.Instances(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]api.Instance, 0, len(ins))
	for _, in := range ins {
		out = append(out, api.Instance(in))
	}
	return out, nil
}

var _ apiserver.Backend = (*backend)(nil)

func copyResources(m map[string]mesh.Resource) map[string]mesh.Resource {
	out := make(map[string]mesh.Resource, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func (b *backend) Apply(ctx context.Context, body []byte, dryRun bool) (api.ApplyResult, error) {
	rs, err := mesh.Decode(body)
	if err != nil {
		return api.ApplyResult{}, invalid("refused: the input has errors, nothing changed", err)
	}
	if len(rs) == 0 {
		return api.ApplyResult{}, fmt.Errorf("%w: no resources in the input", apiserver.ErrInvalid)
	}
	return b.cs.commit(ctx, func(cur *loaded) (map[string]mesh.Resource, map[string]bool, string, error) {
		next, touched := copyResources(cur.byKey), map[string]bool{}
		for _, r := range rs {
			k := mesh.Key(r)
			if touched[k] {
				return nil, nil, "", fmt.Errorf("%w: %s appears twice in the input", apiserver.ErrInvalid, k)
			}
			next[k], touched[k] = r, true
		}
		return next, touched, "apply", nil
	}, dryRun)
}

// invalid turns a joined validation error into one headline plus a line
// per problem.
func invalid(headline string, err error) error {
	return fmt.Errorf("%w: %s\n%s", apiserver.ErrInvalid, headline, err.Error())
}

func (b *backend) Delete(ctx context.Context, kind, namespace, name string, dryRun bool) (api.ApplyResult, error) {
	k := kind + "/" + namespace + "/" + name
	return b.cs.commit(ctx, func(cur *loaded) (map[string]mesh.Resource, map[string]bool, string, error) {
		if cur.byKey[k] == nil {
			return nil, nil, "", fmt.Errorf("%w: %s", apiserver.ErrNotFound, k)
		}
		next := copyResources(cur.byKey)
		delete(next, k)
		return next, map[string]bool{k: true}, "delete " + k, nil
	}, dryRun)
}

func (b *backend) Rollback(ctx context.Context, rev int64, dryRun bool) (api.ApplyResult, error) {
	old, err := b.cs.revision(ctx, rev)
	if err != nil {
		return api.ApplyResult{}, err
	}
	return b.cs.commit(ctx, func(cur *loaded) (map[string]mesh.Resource, map[string]bool, string, error) {
		return old, nil, "rollback to " + strconv.FormatInt(rev, 10), nil
	}, dryRun)
}

func (b *backend) History(ctx context.Context) ([]api.Revision, error) { return b.cs.history(ctx) }

func (b *backend) Resources(ctx context.Context, kind, namespace, name string) ([]api.Resource, error) {
	cur, err := b.cs.load(ctx)
	if err != nil {
		return nil, err
	}
	all := cur.sorted()
	problems := map[string][]mesh.Problem{}
	for _, p := range mesh.CheckReferences(all) {
		problems[p.Resource] = append(problems[p.Resource], p)
	}
	proxies := b.xds.Proxies()
	var out []api.Resource
	for _, r := range all {
		m := r.GetMeta()
		if kind != "" && r.GetTypeMeta().Kind != kind || namespace != "" && m.Namespace != namespace || name != "" && m.Name != name {
			continue
		}
		*r.GetStatus() = status(r, problems[mesh.Key(r)], proxies)
		raw, err := json.Marshal(r)
		*r.GetStatus() = mesh.Status{}
		if err != nil {
			return nil, fmt.Errorf("resources: %w", err)
		}
		out = append(out, raw)
	}
	return out, nil
}

// status tells an operator whether a resource is in force: accepted (only
// valid resources are stored), its references resolved, no conflict, and
// which connected sidecars have ACKed a config that includes it.
func status(r mesh.Resource, problems []mesh.Problem, proxies []server.ProxyStatus) mesh.Status {
	m := r.GetMeta()
	st := mesh.Status{ObservedGeneration: m.Generation}
	st.Conditions = append(st.Conditions, mesh.Condition{Type: "Accepted", Status: "True", Reason: "Valid"})
	var refs, conflicts []string
	refReason := ""
	for _, p := range problems {
		if p.Conflict {
			conflicts = append(conflicts, p.Path+": "+p.Reason)
		} else {
			refs = append(refs, p.Path+": "+p.Reason)
			// Gateway API's reason; a missing backend outranks the rest,
			// since its requests fail.
			if refReason == "" || p.Cause == "BackendNotFound" {
				refReason = p.Cause
			}
		}
	}
	if len(refs) > 0 {
		st.Conditions = append(st.Conditions, mesh.Condition{Type: "ResolvedRefs", Status: "False", Reason: refReason, Message: strings.Join(refs, "; ")})
	} else {
		st.Conditions = append(st.Conditions, mesh.Condition{Type: "ResolvedRefs", Status: "True", Reason: "Resolved"})
	}
	if len(conflicts) > 0 {
		st.Conditions = append(st.Conditions, mesh.Condition{Type: "Conflicted", Status: "True", Reason: "Shadowed", Message: strings.Join(conflicts, "; ")})
	}
	st.Conditions = append(st.Conditions, programmed(parseRev(m.ResourceVersion), proxies))
	return st
}

// programmed reports how many connected proxies run a config at least as
// new as rev (the config revision that last changed the resource).
func programmed(rev int64, proxies []server.ProxyStatus) mesh.Condition {
	if len(proxies) == 0 {
		return mesh.Condition{Type: "Programmed", Status: "Unknown", Reason: "NoProxies", Message: "no sidecar is connected to this control-plane replica"}
	}
	var behind []string
	for _, p := range proxies {
		switch {
		case len(p.NACKs) > 0:
			var errs []string
			for typ, e := range p.NACKs {
				errs = append(errs, typ+": "+e)
			}
			sort.Strings(errs)
			behind = append(behind, p.Node+" (NACK: "+strings.Join(errs, "; ")+")")
		case ackedRevision(p) < rev:
			behind = append(behind, p.Node)
		}
	}
	ok := len(proxies) - len(behind)
	msg := fmt.Sprintf("%d/%d sidecars ACKed config revision %d or newer", ok, len(proxies), rev)
	if len(behind) > 0 {
		return mesh.Condition{Type: "Programmed", Status: "False", Reason: "Pending", Message: msg + "; waiting for: " + strings.Join(behind, ", ")}
	}
	return mesh.Condition{Type: "Programmed", Status: "True", Reason: "Acked", Message: msg}
}

// ackedRevision is the config revision a proxy runs; versions are
// "CONFIGREV.PUSH". A type whose content did not change keeps its older
// version, so a proxy that ACKed everything pushed to it runs the newest
// revision among them; one still catching up is only as new as its oldest.
func ackedRevision(p server.ProxyStatus) int64 {
	if len(p.Acked) == 0 {
		return 0
	}
	synced := p.Synced()
	pick := int64(-1)
	for _, v := range p.Acked {
		rv, _, _ := strings.Cut(v, ".")
		n := parseRev(rv)
		if pick < 0 || synced && n > pick || !synced && n < pick {
			pick = n
		}
	}
	return pick
}

func (b *backend) Proxies(context.Context) []api.Proxy {
	ps := b.xds.Proxies()
	out := make([]api.Proxy, 0, len(ps))
	for _, p := range ps {
		state := api.Stale
		switch {
		case len(p.NACKs) > 0:
			state = api.NACKed
		case p.Synced() && len(p.Missing) > 0:
			// Everything ACKed, yet not everything asked for exists.
			state = api.Missing
		case p.Synced():
			state = api.Synced
		}
		out = append(out, api.Proxy{Node: p.Node, Connected: p.Connected, LastPush: p.LastPush, LastAnswer: p.LastAnswer, Version: p.Version, State: state, Acked: p.Acked, NACKs: p.NACKs, Missing: p.Missing})
	}
	return out
}

func (b *backend) Instances(ctx context.Context, service string) ([]api.Instance, error) {
	ins, _, err := b.reg.Instances(ctx, service)
	if err != nil {
		return nil, err
	}
	out := make([]api.Instance, 0, len(ins))
	for _, in := range ins {
		out = append(out, api.Instance(in))
	}
	return out, nil
}

func (b *backend) Register(ctx context.Context, r api.Registration) (api.Lease, error) {
	in := registry.Instance(r.Instance)
	if err := in.Validate(); err != nil {
		return api.Lease{}, invalid("refused: bad instance", err)
	}
	caller := apiserver.CallerFrom(ctx)
	if err := mayActFor(caller, in.Service); err != nil {
		return api.Lease{}, err
	}
	in.Principal = caller.Workload
	// A renewal must name the lease that holds the instance; a new
	// registration (lease 0) of an ID another sidecar holds replaces it
	// only with the same service's identity (checked above), as a
	// restarted sidecar does.
	if r.Lease != 0 {
		if err := b.leaseHolds(ctx, in.Service, in.ID, r.Lease); err != nil && !errors.Is(err, apiserver.ErrNotFound) {
			return api.Lease{}, err
		}
	}
	lease, err := b.reg.Upsert(ctx, in, r.Lease)
	if err != nil {
		return api.Lease{}, err
	}
	return api.Lease{Lease: lease, TTLSeconds: b.ttl}, nil
}

func (b *backend) Deregister(ctx context.Context, service, id string, lease int64) error {
	c := apiserver.CallerFrom(ctx)
	if err := mayActFor(c, service); err != nil {
		return err
	}
	// The instance's own sidecar proves it with its lease; the operator
	// may remove any instance.
	if !c.Operator {
		if lease == 0 {
			return fmt.Errorf("%w: lease: the lease that holds the instance is required", apiserver.ErrInvalid)
		}
		if err := b.leaseHolds(ctx, service, id, lease); err != nil {
			return err
		}
	}
	return b.reg.Remove(ctx, service, id, lease)
}

package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/store"
)

// The whole mesh config is one etcd key, so an apply of many resources is
// atomic and two replicas racing on it are serialised by a compare-and-swap
// on its revision. etcd's default request limit (1.5 MB; 4 MB for the
// embedded store) bounds the config: thousands of resources.
const (
	currentKey    = "config/current"
	historyPrefix = "config/history/"
)

// configDoc is one revision of the mesh config.
type configDoc struct {
	Revision  int64             `json:"revision"`
	Time      time.Time         `json:"time"`
	Op        string            `json:"op"`
	Changes   []api.Change      `json:"changes,omitempty"`
	Resources []json.RawMessage `json:"resources"`
}

func historyKey(rev int64) string { return historyPrefix + fmt.Sprintf("%012d", rev) }

// configStore reads and writes configDocs.
type configStore struct {
	st           store.Store
	historyLimit int
	now          func() time.Time
}

// loaded is a decoded configDoc and the store revision of its key.
type loaded struct {
	doc    configDoc
	modRev int64
	byKey  map[string]mesh.Resource
}

func (l *loaded) sorted() []mesh.Resource {
	keys := make([]string, 0, len(l.byKey))
	for k := range l.byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]mesh.Resource, 0, len(keys))
	for _, k := range keys {
		out = append(out, l.byKey[k])
	}
	return out
}

func decodeDoc(doc configDoc) (map[string]mesh.Resource, error) {
	byKey := map[string]mesh.Resource{}
	if len(doc.Resources) == 0 {
		return byKey, nil
	}
	// mesh.Decode caps one input (an apply); a stored config may hold more.
	for lo := 0; lo < len(doc.Resources); lo += decodeBatch {
		raw, err := json.Marshal(doc.Resources[lo:min(lo+decodeBatch, len(doc.Resources))])
		if err != nil {
			return nil, err
		}
		rs, err := mesh.Decode(raw)
		if err != nil {
			return nil, fmt.Errorf("stored config revision %d no longer decodes: %w", doc.Revision, err)
		}
		for _, r := range rs {
			byKey[mesh.Key(r)] = r
		}
	}
	return byKey, nil
}

func (c *configStore) load(ctx context.Context) (*loaded, error) {
	kv, err := c.st.Get(ctx, currentKey)
	if errors.Is(err, store.ErrNotFound) {
		return &loaded{byKey: map[string]mesh.Resource{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	var doc configDoc
	if err := decodeDocBytes(kv.Value, &doc); err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	byKey, err := decodeDoc(doc)
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	return &loaded{doc: doc, modRev: kv.ModRevision, byKey: byKey}, nil
}

// canonical is how a resource is stored and compared: status and the
// server-set metadata fields left out.
func canonical(r mesh.Resource) []byte {
	m := r.GetMeta()
	rv, gen, st := m.ResourceVersion, m.Generation, *r.GetStatus()
	m.ResourceVersion, m.Generation, *r.GetStatus() = "", 0, mesh.Status{}
	b, _ := json.MarshalIndent(r, "", "  ")
	m.ResourceVersion, m.Generation, *r.GetStatus() = rv, gen, st
	return b
}

// stamped is canonical plus the server-set metadata, for storing.
func stamped(r mesh.Resource, rev, gen int64) json.RawMessage {
	m := r.GetMeta()
	m.ResourceVersion, m.Generation = strconv.FormatInt(rev, 10), gen
	st := *r.GetStatus()
	*r.GetStatus() = mesh.Status{}
	b, _ := json.Marshal(r)
	*r.GetStatus() = st
	return b
}

// mutation computes the next config from the current one.
// touched names the keys the caller asked about, so an apply reports them
// even when unchanged.
type mutation func(cur *loaded) (next map[string]mesh.Resource, touched map[string]bool, op string, err error)

// commit runs mut against the current config and writes the result as a
// new revision unless it is a dry run or changes nothing. A concurrent
// writer (another replica) makes it retry on the fresh config.
func (c *configStore) commit(ctx context.Context, mut mutation, dryRun bool) (api.ApplyResult, error) {
	for attempt := 0; ; attempt++ {
		cur, err := c.load(ctx)
		if err != nil {
			return api.ApplyResult{}, err
		}
		next, touched, op, err := mut(cur)
		if err != nil {
			return api.ApplyResult{}, err
		}
		res, doc, err := c.plan(cur, next, touched, op)
		if err != nil {
			return api.ApplyResult{}, err
		}
		res.DryRun = dryRun
		if dryRun || doc == nil {
			return res, nil
		}
		b, err := encodeDoc(doc)
		if err != nil {
			return api.ApplyResult{}, fmt.Errorf("%w: refused: %w", apiserver.ErrInvalid, err)
		}
		_, err = c.st.Put(ctx, currentKey, b, store.IfModRevision(cur.modRev))
		if errors.Is(err, store.ErrConflict) && attempt < 5 {
			continue
		}
		if err != nil {
			return api.ApplyResult{}, fmt.Errorf("commit: %w", err)
		}
		// Only the writer that won the swap records history, so the
		// history of a revision is always the config that was in force.
		if _, err := c.st.Put(ctx, historyKey(doc.Revision), b); err != nil {
			return res, fmt.Errorf("revision %d is in force but its history entry failed: %w", doc.Revision, err)
		}
		c.trim(ctx, doc.Revision)
		res.Revision = doc.Revision
		return res, nil
	}
}

// plan diffs cur against next, checks cross-resource problems, and builds
// the next doc (nil when nothing changes).
func (c *configStore) plan(cur *loaded, next map[string]mesh.Resource, touched map[string]bool, op string) (api.ApplyResult, *configDoc, error) {
	res := api.ApplyResult{Revision: cur.doc.Revision}
	rev := cur.doc.Revision + 1
	all := make([]mesh.Resource, 0, len(next))
	keys := map[string]bool{}
	for k := range next {
		keys[k] = true
	}
	for k := range cur.byKey {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	changed := map[string]bool{}
	stored := make([]json.RawMessage, 0, len(next))
	for _, k := range sorted {
		old, now := cur.byKey[k], next[k]
		var ch api.Change
		switch {
		case now == nil:
			ch = api.Change{Key: k, Action: "deleted", Diff: lineDiff(canonical(old), nil)}
		case old == nil:
			ch = api.Change{Key: k, Action: "created", Diff: lineDiff(nil, canonical(now))}
			stored = append(stored, stamped(now, rev, 1))
		default:
			a, b := canonical(old), canonical(now)
			if bytes.Equal(a, b) {
				ch = api.Change{Key: k, Action: "unchanged"}
				stored = append(stored, stamped(old, parseRev(old.GetMeta().ResourceVersion), old.GetMeta().Generation))
			} else {
				ch = api.Change{Key: k, Action: "configured", Diff: lineDiff(a, b)}
				stored = append(stored, stamped(now, rev, old.GetMeta().Generation+1))
			}
		}
		if now != nil {
			all = append(all, now)
		}
		if ch.Action != "unchanged" {
			changed[k] = true
		}
		if ch.Action != "unchanged" || touched[k] {
			res.Changes = append(res.Changes, ch)
		}
	}
	var refused []string
	for _, p := range mesh.CheckReferences(all) {
		switch {
		case p.Conflict && changed[p.Resource]:
			refused = append(refused, p.String())
		case p.Conflict && changed[p.With]:
			refused = append(refused, fmt.Sprintf("%s: conflicts with %s at its %s: same parent, hostname and match", p.With, p.Resource, p.Path))
		case changed[p.Resource]:
			res.Warnings = append(res.Warnings, p.String())
		}
	}
	if len(refused) > 0 {
		return api.ApplyResult{}, nil, fmt.Errorf("%w: refused: %d conflict(s), nothing changed\n%s", apiserver.ErrConflict, len(refused), strings.Join(refused, "\n"))
	}
	if len(changed) == 0 {
		return res, nil, nil
	}
	summary := historyChanges(res.Changes)
	return res, &configDoc{Revision: rev, Time: c.now().UTC(), Op: op, Changes: summary, Resources: stored}, nil
}

func parseRev(s string) int64 {
	n, _ := strconv.ParseInt(s, 10, 64)
	return n
}

// trim keeps the newest historyLimit revisions.
func (c *configStore) trim(ctx context.Context, newest int64) {
	old := newest - int64(c.historyLimit)
	if old < 1 {
		return
	}
	if _, err := c.st.Delete(ctx, historyKey(old)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return
	}
}

func (c *configStore) history(ctx context.Context) ([]api.Revision, error) {
	kvs, _, err := c.st.List(ctx, historyPrefix)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	out := make([]api.Revision, 0, len(kvs))
	for i := len(kvs) - 1; i >= 0; i-- {
		var doc configDoc
		if err := decodeDocBytes(kvs[i].Value, &doc); err != nil {
			return nil, fmt.Errorf("history: %s: %w", kvs[i].Key, err)
		}
		out = append(out, api.Revision{Revision: doc.Revision, Time: doc.Time, Op: doc.Op, Changes: doc.Changes, Resources: len(doc.Resources)})
	}
	return out, nil
}

func (c *configStore) revision(ctx context.Context, rev int64) (map[string]mesh.Resource, error) {
	kv, err := c.st.Get(ctx, historyKey(rev))
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: revision %d is not in the history (it keeps the newest %d)", apiserver.ErrNotFound, rev, c.historyLimit)
	}
	if err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev, err)
	}
	var doc configDoc
	if err := decodeDocBytes(kv.Value, &doc); err != nil {
		return nil, fmt.Errorf("revision %d: %w", rev, err)
	}
	return decodeDoc(doc)
}

package controlplane

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/store"
	"github.com/weft-mesh/weft/internal/xds/server"
	"github.com/weft-mesh/weft/internal/xds/translate"
)

// debounce gathers a burst of changes (a rollout registering many
// instances, an apply) into one push.
const debounce = 20 * time.Millisecond

// syncer keeps the xDS server's resources equal to the translation of the
// stored config and the registry: it watches both and pushes on change.
type syncer struct {
	st   store.Store
	cs   *configStore
	reg  *registry.Registry
	xds  *server.Server
	log  *slog.Logger
	push atomic.Int64 // pushes made, the second half of every version
	// live, when set, follows the sidecars' streams; it runs with the
	// syncer and sees every instance list the syncer reads.
	live *liveness

	last [32]byte // hash of the inputs last pushed
	// trustDomain is the CA's: clusters of mTLS instances name the
	// identity allowed to serve them in it.
	trustDomain string
	// ca, when set, is reloaded from the store before each rebuild (a
	// rotation step of this or another replica) and its bundle is served
	// as the SDS secret ROOTCA; onBundle hears each new bundle (PEM).
	ca       *ca.Authority
	onBundle func(pem []byte)
	// bundle is the bundle last published and bundleVer the version it
	// was first published at (guarded by mu).
	bundle    []byte
	bundleVer string
	// rot, when set, drives root rotations; it runs with the syncer,
	// whose published bundles and ACKs it reads.
	rot *rotator

	// mu guards the scoped configs below against streams connecting.
	mu sync.Mutex
	// input and ver are what was last published.
	input translate.Input
	ver   string
	all   *server.Resources // the default: every service
	// scopes are the configs of sidecars that declared the services they
	// call, one per distinct set, however many sidecars share it.
	scopes    map[string]*scope
	nodeScope map[string]string // node -> scope key
}

func newSyncer(st store.Store, cs *configStore, reg *registry.Registry, xds *server.Server, log *slog.Logger) *syncer {
	s := &syncer{st: st, cs: cs, reg: reg, xds: xds, log: log.With("component", "sync"),
		scopes: map[string]*scope{}, nodeScope: map[string]string{}}
	return s
}

// run rebuilds, then watches; any watch failure (compaction, a lost
// etcd) leads to a full rebuild and fresh watches, so no change is lost.
func (s *syncer) run(ctx context.Context) error {
	if s.live != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.live.run(ctx)
		}()
		defer func() { <-done }()
	}
	if s.rot != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			s.rot.run(ctx)
		}()
		defer func() { <-done }()
	}
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		rev, err := s.rebuild(ctx)
		if err != nil {
			s.log.Warn("rebuild failed; the last pushed config stays", "err", err, "retry", backoff)
			if !sleep(ctx, backoff) {
				break
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		s.watch(ctx, rev)
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// watch returns when a watch fails or ctx ends, rebuilding after every
// burst of changes meanwhile.
func (s *syncer) watch(ctx context.Context, rev int64) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cfg := s.st.Watch(wctx, currentKey, rev)
	ins := s.reg.Watch(wctx, rev)
	// The CA's record: a rotation step is a new bundle to push. Without a
	// CA the channel is nil and never ready.
	var caw <-chan store.Event
	if s.ca != nil {
		caw = s.st.Watch(wctx, ca.RootKey, rev)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-cfg:
			if !ok || ev.Err != nil {
				return
			}
		case ev, ok := <-ins:
			if !ok || ev.Err != nil {
				return
			}
		case ev, ok := <-caw:
			if !ok || ev.Err != nil {
				return
			}
		}
		if !s.drain(ctx, cfg, ins, caw) {
			return
		}
		if _, err := s.rebuild(ctx); err != nil {
			s.log.Warn("rebuild failed; the last pushed config stays", "err", err)
			return
		}
	}
}

// drain swallows the rest of a burst; false means a watch failed.
func (s *syncer) drain(ctx context.Context, a, b, c <-chan store.Event) bool {
	t := time.NewTimer(debounce)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		case ev, ok := <-a:
			if !ok || ev.Err != nil {
				return false
			}
		case ev, ok := <-b:
			if !ok || ev.Err != nil {
				return false
			}
		case ev, ok := <-c:
			if !ok || ev.Err != nil {
				return false
			}
		}
	}
}

// rebuild translates the current state and publishes it if it changed. It
// returns the store revision its reads are consistent with: instances are
// read first, so watching from their revision cannot miss a config change
// that landed between the two reads.
func (s *syncer) rebuild(ctx context.Context) (int64, error) {
	ins, rev, err := s.reg.Instances(ctx, "")
	if err != nil {
		return 0, err
	}
	if s.live != nil {
		s.live.observe(ins)
	}
	cur, err := s.cs.load(ctx)
	if err != nil {
		return 0, err
	}
	bundle, err := s.currentBundle(ctx)
	if err != nil {
		return 0, err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%d\n", cur.doc.Revision)
	for _, r := range cur.doc.Resources {
		h.Write(r)
	}
	insJSON, _ := json.Marshal(ins)
	h.Write(insJSON)
	fmt.Fprintf(h, "\ntd=%s\n", s.trustDomain)
	h.Write(bundle)
	var sum [32]byte
	h.Sum(sum[:0])
	if bytes.Equal(sum[:], s.last[:]) {
		return rev, nil
	}
	in := translate.Input{Resources: cur.sorted(), Instances: servable(ins), TrustDomain: s.trustDomain, TrustBundle: bundle}
	version := strconv.FormatInt(cur.doc.Revision, 10) + "." + strconv.FormatInt(s.push.Add(1), 10)
	if err := s.publish(in, version); err != nil {
		return 0, fmt.Errorf("config revision %d: %w", cur.doc.Revision, err)
	}
	s.last = sum
	s.log.Info("pushed", "version", version, "instances", len(ins), "scopes", s.scopeCount())
	return rev, nil
}

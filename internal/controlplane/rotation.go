package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/xds/server"
)

// Defaults of a root rotation's timing.
const (
	// DefaultRootPropagation caps the wait, after a new root joins the
	// bundle, for every connected sidecar to ACK it before the new root
	// starts signing (a sidecar that is away gets the bundle when it
	// reconnects, and its old leaf keeps working through the overlap).
	DefaultRootPropagation = time.Minute
	// rotationTick is how often the rotation driver looks at ACKs and
	// deadlines.
	rotationTick = 250 * time.Millisecond
	// rotationSettle is the least time a new bundle is out before the new
	// root signs, even when every sidecar of this replica ACKed it: the
	// sidecars of other replicas sharing the store get the same push from
	// their replica's watch, which this one cannot see ACKed.
	rotationSettle = 2 * time.Second
)

// currentBundle rereads the CA's record (another replica may have taken
// a rotation step) and returns the bundle as PEM, telling onBundle when
// it changed. Without a CA it is empty.
func (s *syncer) currentBundle(ctx context.Context) ([]byte, error) {
	if s.ca == nil {
		return nil, nil
	}
	if _, err := s.ca.Reload(ctx); err != nil {
		return nil, err
	}
	b := []byte(pemCerts(s.ca.Bundle()))
	s.mu.Lock()
	changed := string(b) != string(s.bundle)
	s.mu.Unlock()
	if changed && s.onBundle != nil {
		s.onBundle(b)
	}
	return b, nil
}

// bundleAcked reports whether every proxy streaming from this replica
// that subscribes to SDS has ACKed the bundle now published, and how many
// have not.
func (s *syncer) bundleAcked(proxies []server.ProxyStatus, want []byte) (bool, int) {
	s.mu.Lock()
	published, ver := string(s.bundle) == string(want), s.bundleVer
	s.mu.Unlock()
	if !published {
		return false, -1
	}
	waiting := 0
	for _, p := range proxies {
		if p.Pushed["SDS"] == "" && p.Acked["SDS"] == "" {
			continue // not an SDS subscriber (a proxyless gRPC client)
		}
		if a := p.Acked["SDS"]; a == "" || versionBefore(a, ver) {
			waiting++
		}
	}
	return waiting == 0, waiting
}

// versionBefore compares the xDS versions "REVISION.PUSH" as numbers.
func versionBefore(a, b string) bool {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, _ := strconv.ParseInt(as[i], 10, 64)
		y, _ := strconv.ParseInt(bs[i], 10, 64)
		if x != y {
			return x < y
		}
	}
	return len(as) < len(bs)
}

// rotator drives a root rotation an operator started: once the bundle
// {old, new} is ACKed by every sidecar (or the propagation wait ran out)
// the new root starts signing, and once the overlap is over the old root
// leaves the bundle. Every step is the CA's compare-and-swap on the
// store, so replicas driving the same rotation take each step once.
type rotator struct {
	ca          *ca.Authority
	sy          *syncer
	xds         *server.Server
	overlap     time.Duration
	propagation time.Duration
	settle      time.Duration // rotationSettle; tests set 0
	log         *slog.Logger
}

func (r *rotator) run(ctx context.Context) {
	t := time.NewTicker(rotationTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.tick(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("root rotation step failed; retrying", "err", err)
		}
	}
}

func (r *rotator) tick(ctx context.Context) error {
	rot := r.ca.Rotation()
	now := time.Now()
	switch rot.Phase {
	case ca.PhasePropagating:
		acked, waiting := r.sy.bundleAcked(r.xds.Proxies(), []byte(pemCerts(r.ca.Bundle())))
		out := now.Sub(rot.Since)
		late := out >= r.propagation
		if (!acked || out < r.settle) && !late {
			return nil
		}
		if late && !acked {
			r.log.Warn("root rotation: not every sidecar ACKed the new bundle in time; the new root signs anyway", "waiting", waiting, "after", r.propagation)
		}
		if _, err := r.ca.Promote(ctx, r.overlap); err != nil {
			return fmt.Errorf("promote: %w", err)
		}
	case ca.PhaseOverlap:
		if now.Before(rot.FinishAt) {
			return nil
		}
		if _, err := r.ca.Finish(ctx); err != nil {
			return fmt.Errorf("finish: %w", err)
		}
	}
	return nil
}

// RotateCA starts a root rotation, or (Finish) ends the overlap now.
func (b *backend) RotateCA(ctx context.Context, r api.CARotateRequest) (api.CAStatus, error) {
	var err error
	switch {
	case r.Finish && (r.Cert != "" || r.Key != ""):
		return api.CAStatus{}, fmt.Errorf("%w: finish takes no cert or key", apiserver.ErrInvalid)
	case r.Finish:
		_, err = b.certs.ca.Finish(ctx)
	default:
		_, err = b.certs.ca.RotateTo(ctx, r.Cert, r.Key)
	}
	if err != nil {
		return api.CAStatus{}, caErr(err)
	}
	return b.CAStatus(ctx)
}

// CAStatus is the CA's roots and rotation phase.
func (b *backend) CAStatus(context.Context) (api.CAStatus, error) {
	rot := b.certs.ca.Rotation()
	out := api.CAStatus{TrustDomain: b.certs.ca.TrustDomain().Name(), Phase: rot.Phase, Since: rot.Since, FinishAt: rot.FinishAt}
	for _, ri := range rot.Roots {
		out.Roots = append(out.Roots, api.CARoot{Pin: ri.Pin, Subject: ri.Subject, NotAfter: ri.NotAfter})
	}
	if out.Phase == "" {
		out.Phase = "none"
	}
	return out, nil
}

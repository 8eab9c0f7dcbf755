// Package mtls holds a sidecar's current X.509-SVID and trust bundle, and
// the stable tls.Configs whose callbacks read them, so that a rotation of
// the leaf or of the roots swaps a pointer and never rebuilds a connection
// pool. It is a shared leaf: both planes may import it.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// SVID is one certificate with its key and the bundle it was issued with.
// It is immutable once stored.
type SVID struct {
	// Certificate is the chain (leaf first) with its private key; Leaf is set.
	Certificate tls.Certificate
	// ID is the SPIFFE ID in the leaf's URI SAN.
	ID string
	// Bundle are the roots peers are verified against.
	Bundle []*x509.Certificate
}

// NotAfter is when the leaf expires.
func (s *SVID) NotAfter() time.Time { return s.Certificate.Leaf.NotAfter }

// TrustDomain is the trust domain of the SVID's ID: peers must share it.
func (s *SVID) TrustDomain() spiffeid.TrustDomain {
	id, err := spiffeid.FromString(s.ID)
	if err != nil {
		return spiffeid.TrustDomain{}
	}
	return id.TrustDomain()
}

// Roots are the roots peers are verified against.
func (s *SVID) Roots() []*x509.Certificate { return s.Bundle }

// Source is the current SVID, swapped whole on each renewal and on each
// new trust bundle. Readers never lock; the zero value holds none.
type Source struct {
	cur atomic.Pointer[SVID]
	// pushed is the bundle the control plane last pushed (SDS), which
	// wins over the bundle a certificate arrived with: a renewal answered
	// just before a rotation step must not bring back the bundle that
	// step replaced.
	pushed atomic.Pointer[[]*x509.Certificate]
}

// Set makes s the current SVID, with the pushed bundle if there is one.
func (src *Source) Set(s *SVID) {
	for {
		p := src.pushed.Load()
		next := s
		if p != nil {
			n := *s
			n.Bundle = *p
			next = &n
		}
		src.cur.Store(next)
		if src.pushed.Load() == p {
			return // no push raced with this store
		}
	}
}

// Pushed is the bundle the control plane last pushed, nil before any.
func (src *Source) Pushed() []*x509.Certificate {
	if p := src.pushed.Load(); p != nil {
		return *p
	}
	return nil
}

// SetPushedBundle makes roots the trust bundle from now on, for the
// current SVID and every later one (see pushed). It reports whether there
// was an SVID to attach it to.
func (src *Source) SetPushedBundle(roots []*x509.Certificate) bool {
	src.pushed.Store(&roots)
	return src.SetBundle(roots)
}

// Current is the current SVID, or nil before the first.
func (src *Source) Current() *SVID { return src.cur.Load() }

// SetBundle replaces the trust bundle of the current SVID (a root
// rotation pushed by the control plane) and reports whether there was an
// SVID to attach it to. The next handshake, resumed or not, verifies
// against it.
func (src *Source) SetBundle(roots []*x509.Certificate) bool {
	for {
		cur := src.cur.Load()
		if cur == nil {
			return false
		}
		next := *cur
		next.Bundle = roots
		if src.cur.CompareAndSwap(cur, &next) {
			return true
		}
	}
}

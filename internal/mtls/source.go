// Package mtls holds a sidecar's current X.509-SVID and trust bundle, and
// (in the next step) the one stable tls.Config whose callbacks read them,
// so that a rotation swaps a pointer and never rebuilds a connection pool.
// It is a shared leaf: both planes may import it.
package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"sync/atomic"
	"time"
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

// Source is the current SVID, swapped whole on each renewal. Readers never
// lock; the zero value holds none.
type Source struct{ cur atomic.Pointer[SVID] }

// Set makes s the current SVID.
func (src *Source) Set(s *SVID) { src.cur.Store(s) }

// Current is the current SVID, or nil before the first.
func (src *Source) Current() *SVID { return src.cur.Load() }

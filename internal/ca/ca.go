// Package ca is the control plane's certificate authority: it holds the
// signing root (made on first start and kept in the store, or supplied by
// the operator), signs X.509-SVIDs from CSRs for identities an Attestor
// vouched for, and serves the trust bundle. The private key is never
// logged and never leaves this package.
package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/store"
)

// Defaults and caps of issued SVIDs.
const (
	// DefaultTTL is an SVID's lifetime; sidecars renew at half of it.
	DefaultTTL = 24 * time.Hour
	// MaxTTL caps a configured lifetime: a leaked key stays useful until
	// its certificate expires, since nothing revokes it.
	MaxTTL = 30 * 24 * time.Hour
	// MinTTL keeps renewals from becoming a load on the CA.
	MinTTL = time.Second
	// Backdate is how far before now a certificate's NotBefore is set, so
	// a peer whose clock is a little behind already accepts it.
	Backdate = time.Minute
)

// Config configures the Authority. Zero values are defaults.
type Config struct {
	// TrustDomain names the mesh in every SPIFFE ID. Default
	// identity.DefaultTrustDomain (weft.local).
	TrustDomain string
	// CertFile and KeyFile, both set, are an operator's signing
	// certificate (PEM: the signing certificate first, then any
	// intermediates, ending with the self-signed root) and its private
	// key (PEM, PKCS#8, SEC 1 or PKCS#1). Default: none, and the root is
	// made on first start and kept in the store.
	CertFile, KeyFile string
	// TTL is the lifetime of issued SVIDs. Default 24h; at least 1s, at
	// most 720h.
	TTL time.Duration
	// Logger. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Authority signs SVIDs for one trust domain.
type Authority struct {
	td  spiffeid.TrustDomain
	ttl time.Duration
	now func() time.Time
	// st holds the generated root and its rotation state; nil with an
	// operator's files (which do not rotate here).
	st  store.Store
	log *slog.Logger
	// k is swapped whole by a root rotation (here or, read from the
	// store, by another replica), so a signature never mixes two roots.
	k atomic.Pointer[keys]
}

// keys are what the Authority signs with and the bundle it serves.
type keys struct {
	signer crypto.Signer
	cert   *x509.Certificate   // the signing certificate
	chain  []*x509.Certificate // what a leaf's chain carries after the leaf: the signing cert up to, not including, the root
	roots  []*x509.Certificate // the trust bundle: the signing root first, then roots kept or announced during a rotation
	rot    Rotation
	rev    int64 // the store revision of the record these came from
}

// Open loads or creates the signing root. Replicas sharing a store share
// one root: the first to start creates it, and the others read it.
func Open(ctx context.Context, st store.Store, cfg Config) (*Authority, error) {
	if cfg.TrustDomain == "" {
		cfg.TrustDomain = identity.DefaultTrustDomain
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	td, err := identity.ParseTrustDomain(cfg.TrustDomain)
	if err != nil {
		return nil, fmt.Errorf("open ca: trustDomain: %w", err)
	}
	if cfg.TTL < MinTTL || cfg.TTL > MaxTTL {
		return nil, fmt.Errorf("open ca: svid ttl: must be between %s and %s; got %s", MinTTL, MaxTTL, cfg.TTL)
	}
	log := cfg.Logger.With("component", "ca")
	a := &Authority{td: td, ttl: cfg.TTL, now: cfg.Now, log: log}
	switch {
	case cfg.CertFile != "" || cfg.KeyFile != "":
		if cfg.CertFile == "" || cfg.KeyFile == "" {
			return nil, errors.New("open ca: --ca-cert and --ca-key go together")
		}
		if err := a.loadFiles(cfg.CertFile, cfg.KeyFile); err != nil {
			return nil, fmt.Errorf("open ca: %w", err)
		}
		k := a.k.Load()
		log.Info("ca uses the operator's certificate", "subject", k.cert.Subject.String(), "notAfter", k.cert.NotAfter, "trustDomain", td.Name())
	default:
		a.st = st
		created, err := a.loadOrCreate(ctx, st)
		if err != nil {
			return nil, fmt.Errorf("open ca: %w", err)
		}
		k := a.k.Load()
		log.Info("ca root ready", "created", created, "notAfter", k.cert.NotAfter, "trustDomain", td.Name(), "bundle", len(k.roots), "rotation", k.rot.Phase)
	}
	return a, nil
}

// TrustDomain is the domain every SVID this CA signs belongs to.
func (a *Authority) TrustDomain() spiffeid.TrustDomain { return a.td }

// Bundle is the trust bundle: every root a peer should accept now. During
// a root rotation it holds the old and the new root together.
func (a *Authority) Bundle() []*x509.Certificate { return a.k.Load().roots }

// Signing is the root new leaves chain to (the bundle's first certificate).
func (a *Authority) Signing() *x509.Certificate { return a.k.Load().roots[0] }

// TTL is the lifetime of the SVIDs this CA signs.
func (a *Authority) TTL() time.Duration { return a.ttl }

// Sign issues an X.509-SVID for w to the key of csr (checked by ParseCSR).
// It returns the chain, leaf first, without the root.
func (a *Authority) Sign(csr *x509.CertificateRequest, w identity.Workload) ([]*x509.Certificate, error) {
	if w.ID.TrustDomain() != a.td {
		return nil, fmt.Errorf("%w: sign: %s is not in trust domain %s", ErrInvalid, w.ID, a.td.Name())
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: sign: %w", ErrInvalid, err)
	}
	k := a.k.Load()
	now := a.now()
	notAfter := now.Add(a.ttl)
	if notAfter.After(k.cert.NotAfter) {
		notAfter = k.cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("sign: the signing certificate expired at %s", k.cert.NotAfter)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	uri, err := url.Parse(w.ID.String())
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	ku := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		// RSA key exchange (TLS 1.2 without ECDHE) encrypts to the key.
		ku |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		// The subject is informational; peers authorise by the URI SAN.
		Subject:               pkix.Name{Organization: []string{"Weft"}, OrganizationalUnit: []string{w.Namespace}, CommonName: w.Account},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		KeyUsage:              ku,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		URIs:                  []*url.URL{uri},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.cert, csr.PublicKey, k.signer)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return append([]*x509.Certificate{leaf}, k.chain...), nil
}

// newSerial is 128 random bits, positive, as CAs must (RFC 5280 §4.1.2.2).
func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
}

// signerMatches reports whether key is the private half of cert's key.
func signerMatches(key crypto.Signer, cert *x509.Certificate) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := key.Public().(equaler)
	return ok && e.Equal(cert.PublicKey)
}

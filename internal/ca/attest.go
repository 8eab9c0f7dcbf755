package ca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/weft-mesh/weft/internal/identity"
)

// Evidence is what a sidecar presents with a CSR to prove who it is.
type Evidence struct {
	// CSR is the request's DER, which a renewal proof signs.
	CSR []byte
	// Token is a join token, for a first certificate.
	Token string
	// SVID is the current SVID chain, leaf first, for a renewal: from the
	// TLS handshake once the API serves TLS (Proof then empty), or from
	// the request body with Proof over plain HTTP.
	SVID []*x509.Certificate
	// FromTLS says SVID came from a verified TLS client certificate, so
	// the handshake already proved the key.
	FromTLS bool
	// Proof is identity.RenewalProof of CSR by the current SVID's key.
	Proof []byte
}

// ErrNotMine is what an Attestor returns for evidence of another kind, so
// the next one is asked.
var ErrNotMine = errors.New("not this attestor's evidence")

// Attestor turns evidence into the identity it proves. Join tokens and
// current SVIDs are the two here; a Kubernetes service-account token
// attestor (TokenReview) fits the same interface.
type Attestor interface {
	Attest(ctx context.Context, ev *Evidence) (identity.Workload, error)
}

// JoinTokenAttestor admits a sidecar once per use of a join token.
type JoinTokenAttestor struct{ Tokens *Tokens }

var _ Attestor = JoinTokenAttestor{}

// Attest redeems the token.
func (j JoinTokenAttestor) Attest(ctx context.Context, ev *Evidence) (identity.Workload, error) {
	if ev.Token == "" {
		return identity.Workload{}, ErrNotMine
	}
	return j.Tokens.Redeem(ctx, ev.Token)
}

// SVIDAttestor renews: a valid, unexpired SVID of this trust domain, whose
// key signed the renewal proof, gets a new SVID of the same identity.
type SVIDAttestor struct {
	CA  *Authority
	Now func() time.Time // default time.Now
}

var _ Attestor = SVIDAttestor{}

// Attest verifies the current SVID against the bundle and the proof.
func (s SVIDAttestor) Attest(_ context.Context, ev *Evidence) (identity.Workload, error) {
	if len(ev.SVID) == 0 {
		return identity.Workload{}, ErrNotMine
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	w, err := identity.Verify(ev.SVID, s.CA.TrustDomain(), s.CA.Bundle(), now())
	if err != nil {
		return identity.Workload{}, fmt.Errorf("%w: current svid: %w", ErrUnauthenticated, err)
	}
	if !ev.FromTLS {
		if err := identity.VerifyRenewalProof(ev.SVID[0].PublicKey, ev.CSR, ev.Proof); err != nil {
			return identity.Workload{}, fmt.Errorf("%w: %w", ErrUnauthenticated, err)
		}
	}
	return w, nil
}

// Issue attests ev with the first attestor that recognises it, checks the
// CSR against the identity, and signs.
func Issue(ctx context.Context, a *Authority, attestors []Attestor, ev *Evidence) (identity.Workload, []*x509.Certificate, error) {
	if ev.Token != "" && len(ev.SVID) > 0 {
		return identity.Workload{}, nil, fmt.Errorf("%w: give a join token or a current svid, not both", ErrInvalid)
	}
	// Parse before attesting, so a malformed request spends no token use.
	csr, err := ParseCSR(ev.CSR, anyURI)
	if err != nil {
		return identity.Workload{}, nil, err
	}
	for _, at := range attestors {
		w, err := at.Attest(ctx, ev)
		if errors.Is(err, ErrNotMine) {
			continue
		}
		if err != nil {
			return identity.Workload{}, nil, err
		}
		if err := checkURI(csr, w.ID.String()); err != nil {
			return identity.Workload{}, nil, err
		}
		chain, err := a.Sign(csr, w)
		return w, chain, err
	}
	return identity.Workload{}, nil, fmt.Errorf("%w: no credential: give a join token or the current svid", ErrUnauthenticated)
}

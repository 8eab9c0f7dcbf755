package controlplane

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/identity"
)

// certs is the CA as the API serves it.
type certs struct {
	ca        *ca.Authority
	tokens    *ca.Tokens
	attestors []ca.Attestor
}

func newCerts(a *ca.Authority, t *ca.Tokens) *certs {
	return &certs{ca: a, tokens: t, attestors: []ca.Attestor{ca.JoinTokenAttestor{Tokens: t}, ca.SVIDAttestor{CA: a}}}
}

func (b *backend) SVID(ctx context.Context, r api.SVIDRequest, peer [][]byte) (api.SVID, error) {
	ev := &ca.Evidence{CSR: []byte(r.CSR), Token: r.Token, Proof: r.Proof}
	switch {
	case len(peer) > 0:
		for _, der := range peer {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return api.SVID{}, fmt.Errorf("%w: client certificate: %w", apiserver.ErrInvalid, err)
			}
			ev.SVID = append(ev.SVID, c)
		}
		ev.FromTLS = true
	case r.SVID != "":
		chain, err := parsePEMCerts([]byte(r.SVID), 8)
		if err != nil {
			return api.SVID{}, fmt.Errorf("%w: svid: %w", apiserver.ErrInvalid, err)
		}
		ev.SVID = chain
	}
	w, chain, err := ca.Issue(ctx, b.certs.ca, b.certs.attestors, ev)
	if err != nil {
		return api.SVID{}, caErr(err)
	}
	return api.SVID{SPIFFEID: w.ID.String(), Chain: pemCerts(chain), Bundle: pemCerts(b.certs.ca.Bundle()), ExpiresAt: chain[0].NotAfter}, nil
}

func (b *backend) Bundle(context.Context) (api.Bundle, error) {
	return api.Bundle{TrustDomain: b.certs.ca.TrustDomain().Name(), Roots: pemCerts(b.certs.ca.Bundle())}, nil
}

func (b *backend) CreateToken(ctx context.Context, r api.TokenRequest) (api.Token, error) {
	if r.Namespace == "" {
		r.Namespace = identity.DefaultNamespace
	}
	w, err := identity.For(b.certs.ca.TrustDomain(), r.Namespace, r.Service)
	if err != nil {
		return api.Token{}, fmt.Errorf("%w: service, namespace: %w", apiserver.ErrInvalid, err)
	}
	if r.TTLSeconds < 0 || r.TTLSeconds > int64(ca.MaxTokenTTL/time.Second) {
		return api.Token{}, fmt.Errorf("%w: ttlSeconds: must be between 1 and %d; got %d", apiserver.ErrInvalid, int64(ca.MaxTokenTTL/time.Second), r.TTLSeconds)
	}
	tok, exp, err := b.certs.tokens.Create(ctx, w, time.Duration(r.TTLSeconds)*time.Second, r.Uses)
	if err != nil {
		return api.Token{}, caErr(err)
	}
	uses := r.Uses
	if uses == 0 {
		uses = 1
	}
	// The CA pin lets a new sidecar trust this control plane on first
	// contact, before it holds the bundle (kubeadm's discovery hash).
	tok += "." + b.certs.ca.Pin()
	return api.Token{Token: tok, SPIFFEID: w.ID.String(), ExpiresAt: exp, Uses: uses}, nil
}

// caErr maps the CA's errors onto the API's status codes.
func caErr(err error) error {
	switch {
	case errors.Is(err, ca.ErrUnauthenticated):
		return fmt.Errorf("%w: %w", apiserver.ErrUnauthenticated, err)
	case errors.Is(err, ca.ErrInvalid):
		return fmt.Errorf("%w: %w", apiserver.ErrInvalid, err)
	case errors.Is(err, ca.ErrRotation):
		return fmt.Errorf("%w: %w", apiserver.ErrConflict, err)
	}
	return err
}

func pemCerts(cs []*x509.Certificate) string {
	var b bytes.Buffer
	for _, c := range cs {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return b.String()
}

// parsePEMCerts reads at most max certificates; anything else is refused.
func parsePEMCerts(data []byte, max int) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for len(bytes.TrimSpace(data)) > 0 {
		var blk *pem.Block
		blk, data = pem.Decode(data)
		if blk == nil || blk.Type != "CERTIFICATE" {
			return nil, errors.New("want PEM CERTIFICATE blocks only")
		}
		if len(out) == max {
			return nil, fmt.Errorf("more than %d certificates", max)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

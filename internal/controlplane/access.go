package controlplane

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/registry"
	"github.com/weft-mesh/weft/internal/store"
)

// access is the API's Authenticator and the xDS server's Authorize hook.
type access struct {
	op  *operatorAuth
	ca  *ca.Authority
	reg *registry.Registry
}

var _ apiserver.Authenticator = (*access)(nil)

func (a *access) Operator(ctx context.Context, token string) bool { return a.op.Operator(ctx, token) }

func (a *access) Workload(chain [][]byte) (string, error) {
	certs := make([]*x509.Certificate, 0, len(chain))
	for _, der := range chain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return "", err
		}
		certs = append(certs, c)
	}
	w, err := workloadOf(a.ca, certs)
	if err != nil {
		return "", err
	}
	return w.ID.String(), nil
}

// mayActFor checks that the caller may register or deregister an
// instance of service: the operator may; a workload only for the service
// its SPIFFE ID names (its sa).
func mayActFor(c apiserver.Caller, service string) error {
	if c.Operator {
		return nil
	}
	if c.Workload == "" {
		return fmt.Errorf("%w: needs the workload's certificate or the operator token", apiserver.ErrUnauthenticated)
	}
	w, err := identity.Parse(c.Workload)
	if err != nil {
		return fmt.Errorf("%w: %w", apiserver.ErrUnauthenticated, err)
	}
	if w.Account != service {
		return fmt.Errorf("%w: %s may register instances of service %q only, not %q", apiserver.ErrForbidden, c.Workload, w.Account, service)
	}
	return nil
}

// leaseHolds checks that lease is the one holding the registered
// instance, so that only its own sidecar renews or removes it.
func (b *backend) leaseHolds(ctx context.Context, service, id string, lease int64) error {
	held, err := b.reg.Lease(ctx, service, id)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: instance %s/%s", apiserver.ErrNotFound, service, id)
	}
	if err != nil {
		return err
	}
	if held != lease {
		return fmt.Errorf("%w: lease %d does not hold instance %s/%s", apiserver.ErrForbidden, lease, service, id)
	}
	return nil
}

// authorizeStream admits an ADS stream: its TLS client certificate must
// be an SVID of this mesh (the handshake verified the chain), and a node
// id that registered instances hold may be used only by their service's
// identity, so a rogue cannot take another sidecar's node.
func (a *access) authorizeStream(ctx context.Context, node string) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return errors.New("no peer")
	}
	ti, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(ti.State.VerifiedChains) == 0 {
		return errors.New("a client certificate (the sidecar's SVID) is required")
	}
	w, err := workloadOf(a.ca, ti.State.PeerCertificates)
	if err != nil {
		return fmt.Errorf("client certificate: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, livenessOpTimeout)
	defer cancel()
	insts, _, err := a.reg.Instances(ctx, "")
	if err != nil {
		return fmt.Errorf("check node: %w", err)
	}
	for _, in := range insts {
		if in.Node == node && in.Service != w.Account {
			return fmt.Errorf("node %q belongs to service %q; %s may not use it", node, in.Service, w.ID)
		}
	}
	return nil
}

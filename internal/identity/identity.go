// Package identity names workloads with SPIFFE IDs of the form
// spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/ACCOUNT (Istio's shape) and
// verifies X.509-SVIDs against a trust bundle. Parsing and verification
// are go-spiffe's; only its spiffeid and x509svid packages are linked, so
// the sidecar pays for no workload-API client, gRPC or JOSE code.
// It is a shared leaf: both planes import it.
package identity

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// DefaultTrustDomain is the trust domain when none is configured. It is
// Weft's own rather than Kubernetes' cluster.local, so a Weft certificate
// is never accepted by another mesh that kept that default.
const DefaultTrustDomain = "weft.local"

// DefaultNamespace is the namespace of a workload that names none.
const DefaultNamespace = "default"

// Workload is a parsed workload identity.
type Workload struct {
	ID        spiffeid.ID
	Namespace string
	Account   string
}

// String is the SPIFFE ID.
func (w Workload) String() string { return w.ID.String() }

// ParseTrustDomain checks a trust domain name (lowercase letters, digits,
// dots, dashes and underscores).
func ParseTrustDomain(s string) (spiffeid.TrustDomain, error) {
	td, err := spiffeid.TrustDomainFromString(s)
	if err != nil {
		return spiffeid.TrustDomain{}, fmt.Errorf("trust domain %q: %w", s, err)
	}
	if strings.Contains(s, "://") {
		// go-spiffe also accepts spiffe://td; a configured name must be bare.
		return spiffeid.TrustDomain{}, fmt.Errorf("trust domain %q: give the name alone, without spiffe://", s)
	}
	return td, nil
}

// For makes the ID of account in namespace. Both must be non-empty path
// segments: letters, digits, '.', '-' and '_', and not "." or "..".
func For(td spiffeid.TrustDomain, namespace, account string) (Workload, error) {
	if td.IsZero() {
		return Workload{}, errors.New("workload id: empty trust domain")
	}
	id, err := spiffeid.FromSegments(td, "ns", namespace, "sa", account)
	if err != nil {
		return Workload{}, fmt.Errorf("workload id for namespace %q, account %q: %w", namespace, account, err)
	}
	return Workload{ID: id, Namespace: namespace, Account: account}, nil
}

// Parse reads a workload SPIFFE ID; any other path shape is refused.
func Parse(s string) (Workload, error) {
	id, err := spiffeid.FromString(s)
	if err != nil {
		return Workload{}, fmt.Errorf("parse workload id %q: %w", s, err)
	}
	return FromID(id)
}

// FromID checks that id has the workload shape /ns/NAMESPACE/sa/ACCOUNT.
func FromID(id spiffeid.ID) (Workload, error) {
	// go-spiffe has already refused empty, "." and ".." segments and any
	// character outside the allowed set, so splitting is safe here.
	seg := strings.Split(id.Path(), "/")
	if len(seg) != 5 || seg[1] != "ns" || seg[3] != "sa" {
		return Workload{}, fmt.Errorf("parse workload id %q: path must be /ns/NAMESPACE/sa/ACCOUNT", id.String())
	}
	return Workload{ID: id, Namespace: seg[2], Account: seg[4]}, nil
}

// Verify checks an X.509-SVID chain (leaf first) against roots, the trust
// bundle of td, at time now: the leaf carries exactly one SPIFFE ID in a
// URI SAN, is not a CA, and chains to one of the roots. It returns the
// leaf's workload identity.
func Verify(chain []*x509.Certificate, td spiffeid.TrustDomain, roots []*x509.Certificate, now time.Time) (Workload, error) {
	if len(chain) == 0 {
		return Workload{}, errors.New("verify svid: no certificate")
	}
	b := x509bundle.FromX509Authorities(td, roots)
	id, _, err := x509svid.Verify(chain, b, x509svid.WithTime(now))
	if err != nil {
		return Workload{}, fmt.Errorf("verify svid: %w", err)
	}
	return FromID(id)
}

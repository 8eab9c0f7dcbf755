package mtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spiffe/go-spiffe/v2/bundle/x509bundle"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"github.com/spiffe/go-spiffe/v2/svid/x509svid"
)

// Errors a peer's certificate is refused with; wrapped with the detail.
var (
	ErrNoSVID      = errors.New("mtls: this sidecar has no certificate yet")
	ErrNoPeerCert  = errors.New("mtls: peer sent no certificate")
	ErrWrongEKU    = errors.New("mtls: peer certificate lacks the extended key usage for its side")
	ErrNotAllowed  = errors.New("mtls: peer identity may not serve this service")
	ErrTrustDomain = errors.New("mtls: peer is in another trust domain")
)

// verifyPeer checks a peer's chain (leaf first) against the current trust
// bundle at now: go-spiffe verifies the chain and that the leaf has
// exactly one spiffe:// URI SAN (a SPIFFE ID in a DNS SAN or the subject
// counts for nothing), is no CA and is within its validity; on top of
// that the leaf must carry eku, belong to our trust domain, and, when
// allowed is not empty, be one of allowed (secure naming).
func verifyPeer(cur *SVID, chain []*x509.Certificate, eku x509.ExtKeyUsage, allowed []spiffeid.ID, now time.Time) (spiffeid.ID, error) {
	if cur == nil {
		return spiffeid.ID{}, ErrNoSVID
	}
	if len(chain) == 0 {
		return spiffeid.ID{}, ErrNoPeerCert
	}
	td := cur.TrustDomain()
	// The peer's ID is read first so another trust domain gets its own
	// error; go-spiffe then refuses it anyway for want of a bundle.
	if id, err := x509svid.IDFromCert(chain[0]); err == nil && id.TrustDomain() != td {
		return spiffeid.ID{}, fmt.Errorf("%w: %s, not %s", ErrTrustDomain, id.TrustDomain(), td)
	}
	id, _, err := x509svid.Verify(chain, x509bundle.FromX509Authorities(td, cur.Roots()), x509svid.WithTime(now))
	if err != nil {
		return spiffeid.ID{}, fmt.Errorf("mtls: verify peer: %w", err)
	}
	// go-spiffe verifies with ExtKeyUsageAny; a server must be one, a
	// client one, or a certificate minted for something else passes.
	if !slices.Contains(chain[0].ExtKeyUsage, eku) && !slices.Contains(chain[0].ExtKeyUsage, x509.ExtKeyUsageAny) {
		return spiffeid.ID{}, fmt.Errorf("%w (%s)", ErrWrongEKU, ekuName(eku))
	}
	if len(allowed) > 0 && !slices.Contains(allowed, id) {
		return spiffeid.ID{}, fmt.Errorf("%w: %s", ErrNotAllowed, id)
	}
	return id, nil
}

func ekuName(e x509.ExtKeyUsage) string {
	if e == x509.ExtKeyUsageServerAuth {
		return "serverAuth"
	}
	return "clientAuth"
}

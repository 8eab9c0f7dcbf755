package sidecar

import (
	"crypto/x509"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/mtls"
)

// sdsRootName is the SDS secret of the trust bundle (translate.SDSRootName,
// Istio's name), duplicated so that translate is not linked.
const sdsRootName = "ROOTCA"

// maxRenewJitter spreads the renewals a root rotation triggers, so the
// CA is not met by every sidecar in the same instant.
const maxRenewJitter = time.Second

// onTrustBundle takes a trust bundle pushed over xDS (SDS ROOTCA): it
// becomes the bundle every next handshake verifies peers against, in the
// one stable tls.Config (nothing is rebuilt). The bundle's first root is
// the one the CA signs with now; a leaf that does not chain to it is
// renewed at once, which is how a root rotation moves every sidecar onto
// the new root within seconds of the CA switching.
func (s *Sidecar) onTrustBundle(roots []*x509.Certificate) error {
	if len(roots) == 0 {
		return errors.New("trust bundle: empty")
	}
	s.svid.SetPushedBundle(roots)
	cur := s.svid.Current()
	if cur == nil || chainsTo(cur, roots[0]) {
		return nil
	}
	s.log.Info("the CA signs with another root now; renewing the certificate", "spiffeId", cur.ID, "issuer", cur.Certificate.Leaf.Issuer.String(), "signer", roots[0].Subject.String())
	select {
	case s.renewNow <- struct{}{}:
	default: // a renewal is already due
	}
	return nil
}

// chainsTo reports whether the SVID's leaf verifies up to root alone.
func chainsTo(s *mtls.SVID, root *x509.Certificate) bool {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	inter := x509.NewCertPool()
	for _, der := range s.Certificate.Certificate[1:] {
		if c, err := x509.ParseCertificate(der); err == nil {
			inter.AddCert(c)
		}
	}
	_, err := s.Certificate.Leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err == nil
}

// bundleMetric counts the roots this sidecar trusts (2 during a root
// rotation, 1 again once the push of its finish arrived), so an operator
// sees each step reach every sidecar.
func (s *Sidecar) bundleMetric() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weft_sidecar_trust_bundle_roots",
		Help: "Roots in this sidecar's trust bundle (2 during a root rotation); 0 before it has a certificate.",
	}, func() float64 {
		if cur := s.svid.Current(); cur != nil {
			return float64(len(cur.Bundle))
		}
		return 0
	})
}

// renewJitter is a random wait up to maxRenewJitter.
func renewJitter() time.Duration { return rand.N(maxRenewJitter) }

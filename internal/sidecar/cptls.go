package sidecar

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/mtls"
)

// cpTrust is how this sidecar talks to the control plane: TLS verified
// against the CA bundle (controlPlane.caFile, the bundle a join token's
// CA pin vouched for, or the bundle its certificate came with), with its
// SVID as the client certificate. One tls.Config serves every connection;
// its callbacks read the current SVID and roots, so a renewal changes no
// config.
type cpTrust struct {
	svid  *mtls.Source
	roots atomic.Pointer[[]*x509.Certificate]
}

// maxCAFile caps controlPlane.caFile.
const maxCAFile = 1 << 20

func newCPTrust(src *mtls.Source, caFile string) (*cpTrust, error) {
	t := &cpTrust{svid: src}
	if caFile == "" {
		return t, nil
	}
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("controlPlane.caFile: %w", err)
	}
	if len(b) > maxCAFile {
		return nil, fmt.Errorf("controlPlane.caFile: larger than %d bytes", maxCAFile)
	}
	certs, err := decodeCerts(string(b))
	if err != nil {
		return nil, fmt.Errorf("controlPlane.caFile %s: %w", caFile, err)
	}
	t.roots.Store(&certs)
	return t, nil
}

// currentRoots are the roots to verify the control plane with: the bundle
// it pushed over SDS once there is one (it follows a root rotation, and so
// does the control plane's serving certificate), else the configured or
// pinned bundle together with the current SVID's (a caFile or a pin names
// only the root of its day).
func (t *cpTrust) currentRoots() []*x509.Certificate {
	if p := t.svid.Pushed(); p != nil {
		return p
	}
	var out []*x509.Certificate
	if r := t.roots.Load(); r != nil {
		out = append(out, *r...)
	}
	if s := t.svid.Current(); s != nil {
		out = append(out, s.Bundle...)
	}
	return out
}

func (t *cpTrust) hasRoots() bool { return len(t.currentRoots()) > 0 }

// config is the one tls.Config for the control plane. Verification is
// done in VerifyConnection against currentRoots (the standard verifier
// reads a fixed RootCAs), with the same checks: chain and host name.
func (t *cpTrust) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		// Replaced by VerifyConnection below, which reads the roots of
		// the moment; never skipped.
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection
		VerifyConnection: func(cs tls.ConnectionState) error {
			return verifyServer(cs, t.currentRoots())
		},
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			// An expired certificate is not presented: the control plane's
			// handshake would refuse it, and with it the join-token
			// enrolment that is the way back after expiry.
			if s := t.svid.Current(); s != nil && time.Now().Before(s.NotAfter()) {
				return &s.Certificate, nil
			}
			return &tls.Certificate{}, nil // none (yet): the server decides
		},
	}
}

var errNoRoots = errors.New("no CA bundle to verify the control plane with: set controlPlane.caFile, or use a join token with a CA pin (weft token create prints one)")

func verifyServer(cs tls.ConnectionState, roots []*x509.Certificate) error {
	if len(roots) == 0 {
		return errNoRoots
	}
	if len(cs.PeerCertificates) == 0 {
		return errors.New("control plane sent no certificate")
	}
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r)
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: cs.ServerName, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("control plane certificate: %w", err)
	}
	return nil
}

// bootstrap learns the bundle on first contact from the pin in the join
// token, as kubeadm's discovery: the bundle is fetched unverified, and
// trusted only if one of its roots hashes to the pin.
func (t *cpTrust) bootstrap(ctx context.Context, servers []string, pin string) error {
	if t.hasRoots() {
		return nil
	}
	if pin == "" {
		return errNoRoots
	}
	insecure, err := apiclient.NewWith(apiclient.Options{TLS: &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: true}}, servers...) //nolint:gosec // the answer is checked against the pin
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, apiclient.DefaultTimeout)
	defer cancel()
	b, err := insecure.Bundle(ctx)
	if err != nil {
		return fmt.Errorf("fetch the CA bundle to check against the join token's pin: %w", err)
	}
	roots, err := decodeCerts(b.Roots)
	if err != nil {
		return fmt.Errorf("CA bundle: %w", err)
	}
	if _, err := identity.MatchPin(roots, pin); err != nil {
		return err
	}
	t.roots.Store(&roots)
	return nil
}

// waitSVID waits until the sidecar holds a certificate or ctx ends.
func waitSVID(ctx context.Context, src *mtls.Source) bool {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for src.Current() == nil {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"time"

	"github.com/weft-mesh/weft/internal/identity"
)

// ServerTTL is the lifetime of the control plane's own serving
// certificate; it is reissued at half of it, in memory, never stored.
const ServerTTL = 24 * time.Hour

// IssueServer makes a fresh key and a TLS server certificate for the
// control plane's own listeners, valid for hosts (DNS names or IP
// addresses), signed by this CA so that clients verify it against the
// same bundle as workload certificates.
func (a *Authority) IssueServer(hosts []string, ttl time.Duration) (*tls.Certificate, error) {
	if ttl <= 0 {
		ttl = ServerTTL
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	k := a.k.Load()
	now := a.now()
	notAfter := now.Add(ttl)
	if notAfter.After(k.cert.NotAfter) {
		notAfter = k.cert.NotAfter
	}
	if !notAfter.After(now) {
		return nil, fmt.Errorf("server certificate: the signing certificate expired at %s", k.cert.NotAfter)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Weft"}, CommonName: "weft control plane"},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	seen := map[string]bool{}
	for _, h := range hosts {
		if h == "" || seen[h] {
			continue
		}
		seen[h] = true
		if ip := net.ParseIP(h); ip != nil {
			if !ip.IsUnspecified() {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
			continue
		}
		tmpl.DNSNames = append(tmpl.DNSNames, h)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, k.cert, key.Public(), k.signer)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	chain := [][]byte{der}
	for _, c := range k.chain {
		chain = append(chain, c.Raw)
	}
	// The root too: a client that knows only its pin (a join token's, or
	// weft run's) checks it against the chain it is sent.
	chain = append(chain, k.roots[0].Raw)
	return &tls.Certificate{Certificate: chain, PrivateKey: key, Leaf: leaf}, nil
}

// Pin is the pin of the signing root (the bundle's first certificate):
// what a join token carries so that a new sidecar can trust the control
// plane on first contact.
func (a *Authority) Pin() string { return identity.CertPin(a.k.Load().roots[0]) }

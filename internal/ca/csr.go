package ca

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// MaxCSRBytes caps a CSR (PEM or DER); a real one is under 1 KiB.
const MaxCSRBytes = 16 << 10

// ParseCSR reads a PEM "CERTIFICATE REQUEST" (or bare DER) and checks it
// the way a trust boundary must: the signature verifies with the CSR's own
// key (the requester holds it); the key is ECDSA P-256 or P-384, or RSA of
// 2048 to 4096 bits; and it names nothing the CA would not put in the
// certificate itself: no DNS, IP or e-mail SAN, and no URI SAN but the one
// the caller expects (wantURI; "" accepts none). The CA copies only the
// public key from it.
func ParseCSR(data []byte, wantURI string) (*x509.CertificateRequest, error) {
	if len(data) == 0 {
		return nil, fmt.Errorf("%w: csr: empty", ErrInvalid)
	}
	if len(data) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: csr: larger than %d bytes", ErrInvalid, MaxCSRBytes)
	}
	der := data
	if b, rest := pem.Decode(data); b != nil {
		if b.Type != "CERTIFICATE REQUEST" {
			return nil, fmt.Errorf("%w: csr: PEM block is %q, want CERTIFICATE REQUEST", ErrInvalid, b.Type)
		}
		if len(pemTrim(rest)) != 0 {
			return nil, fmt.Errorf("%w: csr: data after the PEM block", ErrInvalid)
		}
		der = b.Bytes
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		return nil, fmt.Errorf("%w: csr: %w", ErrInvalid, err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, fmt.Errorf("%w: csr: signature: %w", ErrInvalid, err)
	}
	if err := checkKey(csr.PublicKey); err != nil {
		return nil, fmt.Errorf("%w: csr: %w", ErrInvalid, err)
	}
	if len(csr.DNSNames)+len(csr.IPAddresses)+len(csr.EmailAddresses) > 0 {
		return nil, fmt.Errorf("%w: csr: DNS, IP and e-mail SANs are refused: an SVID names its workload by its SPIFFE ID alone", ErrInvalid)
	}
	if len(csr.URIs) > 1 {
		return nil, fmt.Errorf("%w: csr: %d URI SANs; an SVID has exactly one", ErrInvalid, len(csr.URIs))
	}
	if wantURI == anyURI {
		return csr, nil
	}
	return csr, checkURI(csr, wantURI)
}

// anyURI makes ParseCSR skip the URI SAN check, for a CSR checked before
// the identity it will get is known.
const anyURI = "\x00any"

// checkURI refuses a CSR asking for an identity other than wantURI.
func checkURI(csr *x509.CertificateRequest, wantURI string) error {
	switch {
	case len(csr.URIs) > 1:
		return fmt.Errorf("%w: csr: %d URI SANs; an SVID has exactly one", ErrInvalid, len(csr.URIs))
	case len(csr.URIs) == 1 && csr.URIs[0].String() != wantURI:
		return fmt.Errorf("%w: csr: asks for %q, but the credential is for %q", ErrInvalid, csr.URIs[0].String(), wantURI)
	}
	return nil
}

func checkKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve != elliptic.P256() && k.Curve != elliptic.P384() {
			return fmt.Errorf("ECDSA curve %s refused; use P-256 or P-384", k.Curve.Params().Name)
		}
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < 2048 || n > 4096 {
			return fmt.Errorf("RSA key of %d bits refused; use 2048 to 4096", n)
		}
	default:
		return fmt.Errorf("key type %T refused; use ECDSA P-256 or P-384, or RSA", pub)
	}
	return nil
}

func pemTrim(b []byte) []byte {
	for len(b) > 0 && (b[0] == '\n' || b[0] == '\r' || b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return b
}

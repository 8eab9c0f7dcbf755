package mtls

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Caps on a trust bundle read from the wire (an SDS secret): a real one
// holds one root, two during a rotation.
const (
	// MaxBundleBytes caps a PEM bundle.
	MaxBundleBytes = 256 << 10
	// MaxBundleRoots caps the roots in one bundle.
	MaxBundleRoots = 16
)

// Errors a bundle is refused with, wrapped with the detail.
var (
	ErrBundleEmpty = errors.New("trust bundle: no certificate")
	ErrBundle      = errors.New("trust bundle")
)

// ParseBundle reads a PEM trust bundle: CERTIFICATE blocks only, each a
// CA certificate, separated by nothing but white space, at most
// MaxBundleRoots of them in at most MaxBundleBytes. Anything else is
// refused whole, so a corrupt push never narrows or widens what a sidecar
// trusts by accident.
func ParseBundle(data []byte) ([]*x509.Certificate, error) {
	if len(data) > MaxBundleBytes {
		return nil, fmt.Errorf("%w: %d bytes, over the cap of %d", ErrBundle, len(data), MaxBundleBytes)
	}
	var out []*x509.Certificate
	rest := data
	for {
		rest = bytes.TrimLeft(rest, " \t\r\n")
		if len(rest) == 0 {
			break
		}
		if !bytes.HasPrefix(rest, []byte("-----BEGIN ")) {
			return nil, fmt.Errorf("%w: text outside a PEM block at byte %d", ErrBundle, len(data)-len(rest))
		}
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			return nil, fmt.Errorf("%w: a PEM block does not parse", ErrBundle)
		}
		if b.Type != "CERTIFICATE" || len(b.Headers) > 0 {
			return nil, fmt.Errorf("%w: PEM block %q, want CERTIFICATE without headers", ErrBundle, b.Type)
		}
		if len(out) == MaxBundleRoots {
			return nil, fmt.Errorf("%w: more than %d roots", ErrBundle, MaxBundleRoots)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: root %d: %w", ErrBundle, len(out), err)
		}
		if !c.IsCA || !c.BasicConstraintsValid {
			return nil, fmt.Errorf("%w: root %d (%s) is not a CA certificate", ErrBundle, len(out), c.Subject)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, ErrBundleEmpty
	}
	return out, nil
}

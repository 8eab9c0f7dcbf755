package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// PinPrefix starts a CA pin: the SHA-256 of a root certificate's DER in
// hex, as kubeadm's --discovery-token-ca-cert-hash.
const PinPrefix = "sha256:"

// CertPin is the pin of one certificate.
func CertPin(c *x509.Certificate) string {
	h := sha256.Sum256(c.Raw)
	return PinPrefix + hex.EncodeToString(h[:])
}

// SplitJoinToken separates a join token "SECRET.sha256:HEX" into the
// secret the CA redeems and the pin of the CA a sidecar may trust on first
// contact; a token without a pin has pin "". A malformed pin is an error.
func SplitJoinToken(tok string) (secret, pin string, err error) {
	secret, pin, found := strings.Cut(tok, ".")
	if !found {
		return tok, "", nil
	}
	hexPart, ok := strings.CutPrefix(pin, PinPrefix)
	if !ok || len(hexPart) != 2*sha256.Size {
		return "", "", fmt.Errorf("join token: the CA pin after '.' must be %s and %d hex digits", PinPrefix, 2*sha256.Size)
	}
	if _, err := hex.DecodeString(hexPart); err != nil {
		return "", "", fmt.Errorf("join token: CA pin: %w", err)
	}
	return secret, PinPrefix + strings.ToLower(hexPart), nil
}

// ErrPinMismatch: no certificate of the bundle matches the pin.
var ErrPinMismatch = errors.New("no certificate in the control plane's bundle matches the join token's CA pin")

// MatchPin returns the first of certs whose pin is pin.
func MatchPin(certs []*x509.Certificate, pin string) (*x509.Certificate, error) {
	for _, c := range certs {
		if subtle.ConstantTimeCompare([]byte(CertPin(c)), []byte(pin)) == 1 {
			return c, nil
		}
	}
	return nil, ErrPinMismatch
}

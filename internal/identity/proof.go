package identity

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
)

// proofContext binds a renewal proof to its purpose, so no other signature
// made with an SVID key (a TLS handshake's, say) can pass for one.
const proofContext = "weft svid renewal v1\x00"

func proofDigest(csrDER []byte) []byte {
	h := sha256.New()
	h.Write([]byte(proofContext))
	h.Write(csrDER)
	return h.Sum(nil)
}

// RenewalProof signs a CSR with the key of the current SVID: over plain
// HTTP, it is how a sidecar proves it holds that SVID when it asks for the
// next one. A replayed proof is worthless: the certificate it would buy is
// for the CSR's key, which only the sidecar holds.
func RenewalProof(key crypto.Signer, csrDER []byte) ([]byte, error) {
	sig, err := key.Sign(rand.Reader, proofDigest(csrDER), crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("renewal proof: %w", err)
	}
	return sig, nil
}

// VerifyRenewalProof checks proof against the current SVID's public key.
func VerifyRenewalProof(pub crypto.PublicKey, csrDER, proof []byte) error {
	d := proofDigest(csrDER)
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, d, proof) {
			return errors.New("renewal proof: bad signature")
		}
	case *rsa.PublicKey:
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, d, proof); err != nil {
			return fmt.Errorf("renewal proof: %w", err)
		}
	default:
		return fmt.Errorf("renewal proof: unsupported key type %T", pub)
	}
	return nil
}

package xdstest

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// TrustBundleFromSecret is the reference reading of an SDS trust bundle
// secret with go-control-plane's types: the secret's name and its
// validation context's trusted_ca roots (DER, in order), which must be
// inline PEM certificates. What it refuses, the sidecar must refuse.
func TrustBundleFromSecret(s *tlsv3.Secret) (string, [][]byte, error) {
	if err := s.ValidateAll(); err != nil {
		return "", nil, err
	}
	vc := s.GetValidationContext()
	if vc == nil {
		return "", nil, errors.New("secret: not a validation context")
	}
	var data []byte
	switch src := vc.GetTrustedCa().GetSpecifier().(type) {
	case *corev3.DataSource_InlineBytes:
		data = src.InlineBytes
	case *corev3.DataSource_InlineString:
		data = []byte(src.InlineString)
	default:
		return "", nil, fmt.Errorf("secret %s: trusted_ca is not inline", s.GetName())
	}
	var out [][]byte
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		if _, err := x509.ParseCertificate(b.Bytes); err != nil {
			return "", nil, fmt.Errorf("secret %s: trusted_ca: %w", s.GetName(), err)
		}
		out = append(out, b.Bytes)
	}
	if len(out) == 0 {
		return "", nil, fmt.Errorf("secret %s: trusted_ca holds no certificate", s.GetName())
	}
	return s.GetName(), out, nil
}

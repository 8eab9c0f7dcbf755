package translate

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
)

// trustBundleSecret is the trust bundle as Envoy's SDS carries one (and
// as Istio names it): a Secret "ROOTCA" whose validation_context holds the
// PEM roots inline. nil for an empty bundle.
func trustBundleSecret(pem []byte) *tlsv3.Secret {
	if len(pem) == 0 {
		return nil
	}
	return &tlsv3.Secret{
		Name: SDSRootName,
		Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: pem}},
		}},
	}
}

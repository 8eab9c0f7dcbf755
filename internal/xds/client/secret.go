package client

import (
	"crypto/x509"
	"fmt"

	"github.com/weft-mesh/weft/internal/mtls"
	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// SDS, as translate sends the trust bundle: a Secret named like Istio's
// ROOTCA whose validation_context holds the PEM roots inline.
const (
	secretMsgName = "envoy.extensions.transport_sockets.tls.v3.Secret"
	secretType    = "type.googleapis.com/" + secretMsgName
)

// trustBundle is one decoded SDS secret.
type trustBundle struct {
	name  string
	roots []*x509.Certificate
}

// decodeSecret reads a Secret that carries a trust bundle. Other kinds of
// secret (a certificate with its key, session ticket keys, a generic
// secret) are refused: a sidecar's key never comes from the control plane.
// The roots must be inline: a file or environment variable named by the
// control plane is not read.
func decodeSecret(b []byte) (trustBundle, error) {
	var s envoypb.Secret
	if err := unmarshal(b, &s); err != nil {
		return trustBundle{}, err
	}
	if err := capped("name", s.GetName(), maxName); err != nil {
		return trustBundle{}, err
	}
	if s.GetName() == "" {
		return trustBundle{}, stricter("name", "required: the secret is looked up by it")
	}
	vc := s.GetValidationContext()
	if vc == nil {
		return trustBundle{}, unsupported("validation_context", "Weft reads trust bundle secrets only")
	}
	if len(vc.GetMatchTypedSubjectAltNames()) > 0 {
		return trustBundle{}, unsupported("validation_context.match_typed_subject_alt_names", "a trust bundle secret names roots only; SAN matchers belong in a cluster's UpstreamTlsContext")
	}
	var pem []byte
	switch ds := vc.GetTrustedCa(); {
	case ds == nil:
		return trustBundle{}, stricter("validation_context.trusted_ca", "required")
	case ds.GetInlineBytes() != nil:
		pem = ds.GetInlineBytes()
	case ds.GetInlineString() != "":
		pem = []byte(ds.GetInlineString())
	case ds.GetFilename() != "" || ds.GetEnvironmentVariable() != "":
		return trustBundle{}, unsupported("validation_context.trusted_ca", "roots must be inline (inline_bytes or inline_string)")
	default:
		return trustBundle{}, stricter("validation_context.trusted_ca", "empty")
	}
	roots, err := mtls.ParseBundle(pem)
	if err != nil {
		// Envoy refuses a bundle it cannot load in code, not by a
		// field rule; ParseBundle is stricter still (no stray text, CA
		// certificates only, capped).
		return trustBundle{}, fmt.Errorf("validation_context.trusted_ca: %w: %w", errBeyondPGV, err)
	}
	return trustBundle{name: s.GetName(), roots: roots}, nil
}

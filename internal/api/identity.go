package api

import "time"

// SVIDRequest asks the CA for an X.509-SVID (POST /v1/svid). The sidecar
// made the key and keeps it; the CSR carries only the public half. It
// proves who it is with one of: a join token (the first time), or its
// current SVID, either as its TLS client certificate (once the API serves
// TLS) or, over plain HTTP, as SVID plus Proof.
type SVIDRequest struct {
	// CSR is a PEM CERTIFICATE REQUEST: ECDSA P-256 or P-384, or RSA of
	// 2048 to 4096 bits, with no DNS, IP or e-mail SAN. The identity comes
	// from the credential, not from the CSR.
	CSR string `json:"csr"`
	// Token is a join token from `weft token create`.
	Token string `json:"token,omitempty"`
	// SVID is the current certificate chain (PEM, leaf first).
	SVID string `json:"svid,omitempty"`
	// Proof is the current key's signature over the CSR field's bytes
	// (identity.RenewalProof).
	Proof []byte `json:"proof,omitempty"`
}

// SVID answers an SVIDRequest.
type SVID struct {
	// SPIFFEID is the identity the certificate carries.
	SPIFFEID string `json:"spiffeId"`
	// Chain is the PEM certificate chain, leaf first, without the root.
	Chain string `json:"chain"`
	// Bundle is the PEM trust bundle: every root to accept peers by.
	Bundle    string    `json:"bundle"`
	ExpiresAt time.Time `json:"expiresAt"`
}

// Bundle is the trust bundle (GET /v1/bundle).
type Bundle struct {
	TrustDomain string `json:"trustDomain"`
	// Roots are PEM certificates; during a root rotation, old and new.
	Roots string `json:"roots"`
}

// TokenRequest creates a join token (POST /v1/tokens).
type TokenRequest struct {
	// Service is the workload's service: the SPIFFE ID's account.
	Service string `json:"service"`
	// Namespace defaults to "default".
	Namespace string `json:"namespace,omitempty"`
	// TTLSeconds is how long the token is usable. Default 3600; at most 7 days.
	TTLSeconds int64 `json:"ttlSeconds,omitempty"`
	// Uses is how many sidecars it admits. Default 1; at most 1000.
	Uses int `json:"uses,omitempty"`
}

// Token answers a TokenRequest. Token is shown this once: the control
// plane keeps only its hash.
type Token struct {
	Token     string    `json:"token"`
	SPIFFEID  string    `json:"spiffeId"`
	ExpiresAt time.Time `json:"expiresAt"`
	Uses      int       `json:"uses"`
}

// CARotateRequest starts a root rotation (POST /v1/ca/rotate), or with
// Finish ends its overlap now. An operator's act.
type CARotateRequest struct {
	// Finish drops the old root from the trust bundle now instead of when
	// the control plane's --root-overlap runs out: leaves it signed are
	// refused from then on. Needs a rotation in phase overlap.
	Finish bool `json:"finish,omitempty"`
	// Cert and Key, both set, are the new root to rotate to: one
	// self-signed CA certificate (PEM) and its private key (PEM: PKCS#8,
	// SEC 1 or PKCS#1). The key is kept in the store like a generated
	// root's and never returned. Default: the control plane makes the new
	// root (ECDSA P-256, 10 years).
	Cert string `json:"cert,omitempty"`
	Key  string `json:"key,omitempty"`
}

// CAStatus is the CA's trust bundle and root rotation (GET /v1/ca).
type CAStatus struct {
	TrustDomain string `json:"trustDomain"`
	// Phase is "none", "propagating" (the new root is in the bundle, the
	// old one still signs, sidecars are ACKing the bundle) or "overlap"
	// (the new root signs, the old one is still trusted).
	Phase string `json:"phase"`
	// Since is when the phase began.
	Since time.Time `json:"since,omitzero"`
	// FinishAt is when the overlap ends and the old root leaves the bundle.
	FinishAt time.Time `json:"finishAt,omitzero"`
	// Roots are the bundle's roots, the signing one first.
	Roots []CARoot `json:"roots"`
}

// CARoot is one root of the bundle.
type CARoot struct {
	// Pin is the root's pin (sha256:HEX of its public key), as join
	// tokens carry it.
	Pin      string    `json:"pin"`
	Subject  string    `json:"subject"`
	NotAfter time.Time `json:"notAfter"`
}

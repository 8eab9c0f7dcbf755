package ca

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// rootKey is the store key of the generated root.
const rootKey = "ca/root"

// rootLifetime is a generated root's validity.
const rootLifetime = 10 * 365 * 24 * time.Hour

// rootRecord is the stored root. Key is the root's private key: it is
// read only here, never logged, and no API returns it.
type rootRecord struct {
	Cert string `json:"cert"` // PEM
	Key  string `json:"key"`  // PEM, PKCS#8
	// Previous are earlier roots still trusted during a root rotation, so
	// that the bundle holds old and new together until every leaf the old
	// one signed has expired.
	Previous []string `json:"previousRoots,omitempty"`
}

// loadOrCreate reads the stored root, or makes one and stores it unless
// another replica stored one first.
func (a *Authority) loadOrCreate(ctx context.Context, st store.Store) (created bool, err error) {
	kv, err := st.Get(ctx, rootKey)
	if errors.Is(err, store.ErrNotFound) {
		rec, gerr := a.newRoot()
		if gerr != nil {
			return false, gerr
		}
		data, merr := json.Marshal(rec)
		if merr != nil {
			return false, fmt.Errorf("store root: %w", merr)
		}
		if _, err = st.Put(ctx, rootKey, data, store.IfModRevision(0)); err == nil {
			return true, a.useRecord(rec)
		}
		if !errors.Is(err, store.ErrConflict) {
			return false, fmt.Errorf("store root: %w", err)
		}
		kv, err = st.Get(ctx, rootKey) // another replica won: use its root
	}
	if err != nil {
		return false, fmt.Errorf("load root: %w", err)
	}
	var rec rootRecord
	if err := json.Unmarshal(kv.Value, &rec); err != nil {
		return false, fmt.Errorf("load root: %w", err)
	}
	return false, a.useRecord(&rec)
}

func (a *Authority) newRoot() (*rootRecord, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	now := a.now()
	td, _ := url.Parse(a.td.IDString())
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"Weft"}, CommonName: "Weft root CA " + a.td.Name()},
		NotBefore:             now.Add(-Backdate),
		NotAfter:              now.Add(rootLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		// It signs leaves only; an intermediate would need a new root.
		MaxPathLen:     0,
		MaxPathLenZero: true,
		// The SPIFFE X.509-SVID spec lets a signing certificate name its
		// trust domain; it makes a changed --trust-domain detectable.
		URIs: []*url.URL{td},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("new root: %w", err)
	}
	return &rootRecord{
		Cert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})),
		Key:  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})),
	}, nil
}

func (a *Authority) useRecord(rec *rootRecord) error {
	certs, err := parseCerts([]byte(rec.Cert))
	if err != nil || len(certs) != 1 {
		return fmt.Errorf("stored root: certificate: %v", err)
	}
	key, err := parseKey([]byte(rec.Key))
	if err != nil {
		return fmt.Errorf("stored root: %w", err)
	}
	root := certs[0]
	for _, u := range root.URIs {
		if u.Scheme == "spiffe" && u.Host != a.td.Name() {
			return fmt.Errorf("stored root is for trust domain %q, but the configured one is %q: keep the trust domain, or start with an empty store", u.Host, a.td.Name())
		}
	}
	if !signerMatches(key, root) {
		return errors.New("stored root: the key does not match the certificate")
	}
	a.signer, a.cert, a.chain, a.roots = key, root, nil, []*x509.Certificate{root}
	for i, p := range rec.Previous {
		prev, err := parseCerts([]byte(p))
		if err != nil {
			return fmt.Errorf("stored root: previousRoots[%d]: %w", i, err)
		}
		a.roots = append(a.roots, prev...)
	}
	return nil
}

// loadFiles reads an operator's signing certificate chain and key.
func (a *Authority) loadFiles(certFile, keyFile string) error {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return fmt.Errorf("ca-cert: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return fmt.Errorf("ca-key: %w", err)
	}
	certs, err := parseCerts(certPEM)
	if err != nil {
		return fmt.Errorf("ca-cert %s: %w", certFile, err)
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return fmt.Errorf("ca-key %s: %w", keyFile, err)
	}
	sc, root := certs[0], certs[len(certs)-1]
	switch {
	case !sc.IsCA || sc.KeyUsage&x509.KeyUsageCertSign == 0:
		return fmt.Errorf("ca-cert %s: the first certificate is not a CA allowed to sign certificates", certFile)
	case !signerMatches(key, sc):
		return fmt.Errorf("ca-key %s: does not match the first certificate of %s", keyFile, certFile)
	case root.CheckSignatureFrom(root) != nil:
		return fmt.Errorf("ca-cert %s: must end with the root (a self-signed certificate), so sidecars can be given the trust bundle", certFile)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	inter := x509.NewCertPool()
	// A lone self-signed root signs by itself: no intermediates.
	for _, c := range certs[1:max(1, len(certs)-1)] {
		inter.AddCert(c)
	}
	if _, err := sc.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: a.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return fmt.Errorf("ca-cert %s: the chain does not verify: %w", certFile, err)
	}
	a.signer, a.cert, a.roots = key, sc, []*x509.Certificate{root}
	if len(certs) > 1 {
		a.chain = certs[:len(certs)-1]
	}
	return nil
}

func parseCerts(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}

// parseKey errors never quote the key material.
func parseKey(data []byte) (crypto.Signer, error) {
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, errors.New("no PEM block")
	}
	var k any
	var err error
	switch b.Type {
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(b.Bytes)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(b.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", b.Type)
	}
	if err != nil {
		return nil, errors.New("the private key does not parse")
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("key type %T cannot sign", k)
	}
	return s, nil
}

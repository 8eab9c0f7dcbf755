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

// rootRecord is the stored root. Key and NextKey are private keys: they
// are read only here, never logged, and no API returns them.
type rootRecord struct {
	Cert string `json:"cert"` // PEM
	Key  string `json:"key"`  // PEM, PKCS#8
	// Previous are earlier roots still trusted during a root rotation, so
	// that the bundle holds old and new together until every leaf the old
	// one signed has been replaced.
	Previous []string `json:"previousRoots,omitempty"`
	// NextCert and NextKey are a new root announced in the bundle but not
	// signing yet (rotation phase "propagating").
	NextCert string `json:"nextCert,omitempty"`
	NextKey  string `json:"nextKey,omitempty"`
	// Phase is the rotation's: "" (none), "propagating" or "overlap".
	Phase string `json:"phase,omitempty"`
	// Since is when Phase began; FinishAt is when the overlap ends and
	// Previous leaves the bundle.
	Since    time.Time `json:"since,omitzero"`
	FinishAt time.Time `json:"finishAt,omitzero"`
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
		var rev int64
		if rev, err = st.Put(ctx, rootKey, data, store.IfModRevision(0)); err == nil {
			return true, a.useRecord(rec, rev)
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
	return false, a.useRecord(&rec, kv.ModRevision)
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

func (a *Authority) useRecord(rec *rootRecord, rev int64) error {
	key, root, err := a.parseRoot(rec.Cert, rec.Key)
	if err != nil {
		return fmt.Errorf("stored root: %w", err)
	}
	k := &keys{signer: key, cert: root, roots: []*x509.Certificate{root}, rev: rev,
		rot: Rotation{Phase: rec.Phase, Since: rec.Since, FinishAt: rec.FinishAt}}
	if rec.NextCert != "" {
		_, next, err := a.parseRoot(rec.NextCert, rec.NextKey)
		if err != nil {
			return fmt.Errorf("stored next root: %w", err)
		}
		k.roots = append(k.roots, next)
	}
	for i, p := range rec.Previous {
		prev, err := parseCerts([]byte(p))
		if err != nil {
			return fmt.Errorf("stored root: previousRoots[%d]: %w", i, err)
		}
		k.roots = append(k.roots, prev...)
	}
	k.rot.Roots = rootInfos(k.roots)
	a.k.Store(k)
	return nil
}

// parseRoot reads a stored root and its key and checks that they belong
// together and to this trust domain.
func (a *Authority) parseRoot(certPEM, keyPEM string) (crypto.Signer, *x509.Certificate, error) {
	certs, err := parseCerts([]byte(certPEM))
	if err != nil || len(certs) != 1 {
		return nil, nil, fmt.Errorf("certificate: %v", err)
	}
	key, err := parseKey([]byte(keyPEM))
	if err != nil {
		return nil, nil, err
	}
	root := certs[0]
	for _, u := range root.URIs {
		if u.Scheme == "spiffe" && u.Host != a.td.Name() {
			return nil, nil, fmt.Errorf("root is for trust domain %q, but the configured one is %q: keep the trust domain, or start with an empty store", u.Host, a.td.Name())
		}
	}
	if !signerMatches(key, root) {
		return nil, nil, errors.New("the key does not match the certificate")
	}
	return key, root, nil
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
	k := &keys{signer: key, cert: sc, roots: []*x509.Certificate{root}}
	if len(certs) > 1 {
		k.chain = certs[:len(certs)-1]
	}
	k.rot.Roots = rootInfos(k.roots)
	a.k.Store(k)
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

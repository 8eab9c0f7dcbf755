package client

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/internal/xds/xdstest"
)

var (
	bundleOnce sync.Once
	bundlePEM  []byte
	leafPEM    []byte
)

// testBundlePEM is two self-signed roots, as a bundle during a rotation;
// leafPEM (set with it) is a certificate that is no CA.
func testBundlePEM(t testing.TB) []byte {
	bundleOnce.Do(func() {
		var b bytes.Buffer
		for i := range 3 {
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 1)), Subject: pkix.Name{CommonName: "test root"},
				NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
				IsCA: i < 2, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
			if err != nil {
				panic(err)
			}
			if i == 2 {
				leafPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
				break
			}
			pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
		}
		bundlePEM = b.Bytes()
	})
	return bundlePEM
}

func bundleSecret(name string, ds *corev3.DataSource) *tlsv3.Secret {
	return &tlsv3.Secret{Name: name, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{TrustedCa: ds}}}
}

func inlineBytes(b []byte) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_InlineBytes{InlineBytes: b}}
}

// secretCases are shapes the sidecar refuses, and why.
func secretCases(t testing.TB) []decodeCase {
	good := testBundlePEM(t)
	return []decodeCase{
		{"a certificate with its key", &tlsv3.Secret{Name: "default", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{}}}, ErrUnsupported, true},
		{"no name", bundleSecret("", inlineBytes(good)), ErrInvalid, false},
		{"no trusted_ca", bundleSecret("ROOTCA", nil), ErrInvalid, true},
		{"a file", bundleSecret("ROOTCA", &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: "/etc/ca.pem"}}), ErrUnsupported, true},
		{"an environment variable", bundleSecret("ROOTCA", &corev3.DataSource{Specifier: &corev3.DataSource_EnvironmentVariable{EnvironmentVariable: "CA"}}), ErrUnsupported, true},
		{"empty bytes", bundleSecret("ROOTCA", inlineBytes(nil)), ErrInvalid, true},
		{"garbage", bundleSecret("ROOTCA", inlineBytes([]byte("not pem"))), ErrInvalid, true},
		{"a leaf, not a CA", bundleSecret("ROOTCA", inlineBytes(leafPEM)), ErrInvalid, false},
		{"text after the roots", bundleSecret("ROOTCA", inlineBytes(append(append([]byte{}, good...), "x"...))), ErrInvalid, false},
		{"SAN matchers", &tlsv3.Secret{Name: "ROOTCA", Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: inlineBytes(good),
			MatchTypedSubjectAltNames: []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_URI,
				Matcher: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: "spiffe://x/y"}}}}}}}, ErrUnsupported, false},
	}
}

// realSecret is the reference: go-control-plane's decode and
// xdstest.TrustBundleFromSecret.
func realSecret(b []byte) (trustBundleDER, error) {
	s := &tlsv3.Secret{}
	if err := proto.Unmarshal(b, s); err != nil {
		return trustBundleDER{}, err
	}
	name, ders, err := xdstest.TrustBundleFromSecret(s)
	if err != nil {
		return trustBundleDER{}, errors.Join(errToProxy, err)
	}
	return trustBundleDER{name, ders}, nil
}

// trustBundleDER is a trustBundle in comparable form.
type trustBundleDER struct {
	Name  string
	Roots [][]byte
}

func derOf(tb trustBundle) trustBundleDER {
	out := trustBundleDER{Name: tb.name}
	for _, r := range tb.roots {
		out.Roots = append(out.Roots, r.Raw)
	}
	return out
}

// TestDecodeSecretMatchesReference: translate's ROOTCA secret decodes to
// the roots the reference reads, in order; each refused shape is refused
// with its kind of error.
func TestDecodeSecretMatchesReference(t *testing.T) {
	snap := meshSnapshot(t)
	if len(snap.Secrets) != 1 || snap.Secrets[0].Name != "ROOTCA" {
		t.Fatalf("translate made %d secrets", len(snap.Secrets))
	}
	b := marshal(t, snap.Secrets[0])
	got, err := decodeSecret(b)
	if err != nil {
		t.Fatal(err)
	}
	want, err := realSecret(b)
	if err != nil {
		t.Fatal(err)
	}
	againstReference(t, derOf(got), nil, want, nil)
	if len(got.roots) != 2 {
		t.Fatalf("%d roots", len(got.roots))
	}
	// inline_string is the same bundle.
	s := bundleSecret("ROOTCA", &corev3.DataSource{Specifier: &corev3.DataSource_InlineString{InlineString: string(testBundlePEM(t))}})
	if got2, err := decodeSecret(marshal(t, s)); err != nil || len(got2.roots) != 2 {
		t.Fatalf("inline_string: %v", err)
	}
	for _, c := range secretCases(t) {
		t.Run(c.name, func(t *testing.T) {
			b := marshal(t, c.msg)
			_, err := decodeSecret(b)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
			_, realErr := realSecret(b)
			if (realErr != nil) != c.realRejects {
				t.Fatalf("reference error %v, want rejected %v", realErr, c.realRejects)
			}
			againstReference(t, nil, err, nil, realErr)
		})
	}
}

func FuzzDecodeSecret(f *testing.F) {
	snap := meshSnapshot(f)
	var msgs []proto.Message
	for _, s := range snap.Secrets {
		msgs = append(msgs, s)
	}
	seeds(f, msgs, secretCases(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := measured(t, b, func() (trustBundleDER, error) { tb, err := decodeSecret(b); return derOf(tb), err })
		want, realErr := realSecret(b)
		againstReference(t, got, err, want, realErr)
	})
}

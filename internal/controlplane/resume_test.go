package controlplane

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/store"
)

// A client whose TLS session began under a root that has since left the
// bundle cannot resume it on the API or xDS port: Go resumes with no
// certificate check, so the configs check resumed sessions themselves
// (RELIABILITY row 21, resumption after a bundle change).
func TestResumedSessionAfterRootLeavesBundle(t *testing.T) {
	ctx := context.Background()
	st, err := store.OpenEmbedded(ctx, store.EmbeddedConfig{DataDir: t.TempDir(), FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a, err := ca.Open(ctx, st, ca.Config{})
	if err != nil {
		t.Fatal(err)
	}
	sc, err := newServerCert(a, []string{"127.0.0.1"}, time.Hour, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	apiTLS, xdsTLS := tlsConfigs(sc, a)

	w, err := identity.Parse("spiffe://weft.local/ns/default/sa/catalog")
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{URIs: nil}, key)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := ca.ParseCSR(der, w.ID.String())
	if err != nil {
		t.Fatal(err)
	}
	chain, err := a.Sign(csr, w)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, c := range chain {
		cert.Certificate = append(cert.Certificate, c.Raw)
	}
	roots := x509.NewCertPool()
	for _, r := range a.Bundle() {
		roots.AddCert(r)
	}

	dials := map[string]func() (tls.ConnectionState, error){}
	for name, srv := range map[string]*tls.Config{"api": apiTLS, "xds": xdsTLS} {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", srv)
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					defer c.Close()
					c.SetDeadline(time.Now().Add(5 * time.Second))
					if c.(*tls.Conn).Handshake() == nil {
						c.Write([]byte("x")) // lets the client read its session ticket
					}
				}()
			}
		}()
		cli := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cert},
			ClientSessionCache: tls.NewLRUClientSessionCache(4), NextProtos: []string{"h2"}}
		dial := func() (tls.ConnectionState, error) {
			c, err := tls.Dial("tcp", ln.Addr().String(), cli)
			if err != nil {
				return tls.ConnectionState{}, err
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			_, err = io.ReadFull(c, make([]byte, 1))
			return c.ConnectionState(), err
		}
		if _, err := dial(); err != nil {
			t.Fatalf("%s: first connection: %v", name, err)
		}
		// The ticket arrives after the handshake: a later connection
		// must resume, or this test proves nothing.
		if cs, err := dial(); err != nil || !cs.DidResume {
			t.Fatalf("%s: second connection: resumed %v, %v; want a resumed session", name, cs.DidResume, err)
		}
		dials[name] = dial
	}
	// The root that signed the client's certificate leaves the bundle.
	if _, err := a.Rotate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Promote(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Finish(ctx); err != nil {
		t.Fatal(err)
	}
	for name, dial := range dials {
		if cs, err := dial(); err == nil {
			t.Errorf("%s: connected (resumed %v) with a certificate of a root no longer in the bundle; want refused", name, cs.DidResume)
		}
	}
}

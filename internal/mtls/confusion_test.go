package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// server accepts TLS connections with ServerConfig(src) on loopback and
// writes "ok\n" on each one whose handshake succeeded.
func server(t *testing.T, src *Source, hs *Handshakes) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", ServerConfig(src, hs))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
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
					c.Write([]byte("ok\n"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects with cfg and reads the server's answer: nil only when both
// sides accepted the handshake.
func dial(addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 3)
	if _, err := io.ReadFull(c, b); err != nil {
		return c.ConnectionState(), err // the server refused us after its side of the handshake
	}
	return c.ConnectionState(), nil
}

const (
	td     = "weft.test"
	apiID  = "spiffe://weft.test/ns/default/sa/api"
	webID  = "spiffe://weft.test/ns/default/sa/web"
	apiSA  = "/ns/default/sa/api"
	webSA  = "/ns/default/sa/web"
	evilTD = "evil.test"
)

func TestGoodPeersHandshake(t *testing.T) {
	ca := newCA(t, td)
	var srv, cli Source
	srv.Set(ca.leaf(t, apiSA, leafOpts{}))
	cli.Set(ca.leaf(t, webSA, leafOpts{}))
	var hs Handshakes
	addr := server(t, &srv, &hs)
	cfg, err := NewClients(&cli, &hs).For([]string{apiID})
	if err != nil {
		t.Fatal(err)
	}
	st, err := dial(addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.PeerCertificates[0].URIs[0].String(); got != apiID {
		t.Errorf("server identity %s, want %s", got, apiID)
	}
	if hs.Get(Server, OK) != 1 || hs.Get(Client, OK) != 1 {
		t.Errorf("handshakes server %d client %d, want 1 and 1", hs.Get(Server, OK), hs.Get(Client, OK))
	}
}

// TestIdentityConfusion is RELIABILITY row 21: each peer certificate here
// must be refused, by the side that checks it.
func TestIdentityConfusion(t *testing.T) {
	ca, evil := newCA(t, td), newCA(t, evilTD)
	past := time.Now().Add(-48 * time.Hour)
	for _, tt := range []struct {
		name     string
		server   func() *SVID
		client   func() *SVID
		allowed  []string
		wantErr  error
		refusing Side
	}{
		{name: "server SPIFFE ID only in a DNS SAN", server: func() *SVID { return ca.leaf(t, apiSA, leafOpts{dnsOnly: true}) }, refusing: Client},
		{name: "client SPIFFE ID only in a DNS SAN", client: func() *SVID { return ca.leaf(t, webSA, leafOpts{dnsOnly: true}) }, refusing: Server},
		{name: "server certificate for clients only", server: func() *SVID {
			return ca.leaf(t, apiSA, leafOpts{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
		}, wantErr: ErrWrongEKU, refusing: Client},
		{name: "client certificate for servers only", client: func() *SVID {
			return ca.leaf(t, webSA, leafOpts{eku: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		}, wantErr: ErrWrongEKU, refusing: Server},
		{name: "expired server", server: func() *SVID {
			return ca.leaf(t, apiSA, leafOpts{notBefore: past, notAfter: past.Add(time.Hour)})
		}, refusing: Client},
		{name: "expired client", client: func() *SVID {
			return ca.leaf(t, webSA, leafOpts{notBefore: past, notAfter: past.Add(time.Hour)})
		}, refusing: Server},
		{name: "server of another trust domain", server: func() *SVID { return withBundle(evil.leaf(t, apiSA, leafOpts{}), ca, evil) },
			wantErr: ErrTrustDomain, refusing: Client},
		{name: "client of another trust domain", client: func() *SVID {
			// A client that trusts our root but presents a certificate of
			// its own domain: only the server's check stands in its way.
			s := withBundle(evil.leaf(t, webSA, leafOpts{}), ca, evil)
			s.ID = webID
			return s
		},
			wantErr: ErrTrustDomain, refusing: Server},
		{name: "server not allowed for the service", server: func() *SVID { return ca.leaf(t, "/ns/default/sa/other", leafOpts{}) },
			wantErr: ErrNotAllowed, refusing: Client},
		{name: "server in the allowed namespace of another trust domain", server: func() *SVID { return withBundle(evil.leaf(t, apiSA, leafOpts{}), ca, evil) },
			allowed: []string{"spiffe://evil.test/ns/default/sa/api"}, refusing: Client},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var srv, cli Source
			srv.Set(ca.leaf(t, apiSA, leafOpts{}))
			cli.Set(ca.leaf(t, webSA, leafOpts{}))
			if tt.server != nil {
				srv.Set(tt.server())
			}
			if tt.client != nil {
				cli.Set(tt.client())
			}
			var hs Handshakes
			addr := server(t, &srv, &hs)
			allowed := tt.allowed
			if allowed == nil {
				allowed = []string{apiID}
			}
			cfg, err := NewClients(&cli, &hs).For(allowed)
			if err != nil {
				t.Fatal(err)
			}
			_, err = dial(addr, cfg)
			if err == nil {
				t.Fatal("handshake accepted")
			}
			if tt.refusing == Client && tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("err %v, want %v", err, tt.wantErr)
			}
			// The refusal must be the checking side's own, not a
			// consequence of the other side's failure.
			deadline := time.Now().Add(5 * time.Second)
			for hs.Get(tt.refusing, Refused) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if hs.Get(tt.refusing, Refused) != 1 {
				t.Errorf("%s refused %d handshakes, want 1", tt.refusing, hs.Get(tt.refusing, Refused))
			}
		})
	}
}

// TestVerifyPeerErrors pins the reason for each refusal at the function
// the callbacks share (the wire test above cannot see the server's).
func TestVerifyPeerErrors(t *testing.T) {
	ca, evil := newCA(t, td), newCA(t, evilTD)
	me := ca.leaf(t, apiSA, leafOpts{})
	now := time.Now()
	leaf := func(s *SVID) []*x509.Certificate { return []*x509.Certificate{s.Certificate.Leaf} }
	if _, err := verifyPeer(nil, leaf(me), x509.ExtKeyUsageClientAuth, nil, now); !errors.Is(err, ErrNoSVID) {
		t.Errorf("no svid: %v", err)
	}
	if _, err := verifyPeer(me, nil, x509.ExtKeyUsageClientAuth, nil, now); !errors.Is(err, ErrNoPeerCert) {
		t.Errorf("no peer cert: %v", err)
	}
	if _, err := verifyPeer(me, leaf(ca.leaf(t, webSA, leafOpts{dnsOnly: true})), x509.ExtKeyUsageClientAuth, nil, now); err == nil {
		t.Error("DNS SAN accepted")
	}
	if _, err := verifyPeer(me, leaf(evil.leaf(t, webSA, leafOpts{})), x509.ExtKeyUsageClientAuth, nil, now); !errors.Is(err, ErrTrustDomain) {
		t.Errorf("other trust domain: %v", err)
	}
	if _, err := verifyPeer(me, leaf(ca.leaf(t, webSA, leafOpts{})), x509.ExtKeyUsageClientAuth, nil, now.Add(48*time.Hour)); err == nil {
		t.Error("expired accepted")
	}
	// A certificate of our trust domain signed by a root not in the bundle.
	rogue := newCA(t, td)
	if _, err := verifyPeer(me, leaf(rogue.leaf(t, webSA, leafOpts{})), x509.ExtKeyUsageClientAuth, nil, now); err == nil {
		t.Error("unknown root accepted")
	}
	if id, err := verifyPeer(me, leaf(ca.leaf(t, webSA, leafOpts{})), x509.ExtKeyUsageClientAuth, nil, now); err != nil || id.String() != webID {
		t.Errorf("good peer: %v %v", id, err)
	}
}

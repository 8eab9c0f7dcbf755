package mtls

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spiffe/go-spiffe/v2/spiffeid"
)

// ServerConfig is a sidecar's one inbound tls.Config. Its callbacks read
// src at each handshake, so a new leaf or bundle applies to the next
// connection without a new config. The client's certificate is checked in
// VerifyConnection, which Go also runs on resumed sessions: a session
// ticket issued before a root was withdrawn does not outlive the root.
func ServerConfig(src *Source, hs *Handshakes) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		NextProtos: []string{"h2", "http/1.1"},
		// Any certificate is asked for and the chain is verified below
		// against the bundle of the moment, not a pool built once.
		ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			cur := src.Current()
			if cur == nil {
				return nil, ErrNoSVID
			}
			return &cur.Certificate, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPeer(src.Current(), cs.PeerCertificates, x509.ExtKeyUsageClientAuth, nil, time.Now())
			hs.count(Server, cs.DidResume, err)
			return err
		},
	}
}

// maxClientConfigs caps the cache of client configs (one per set of
// allowed server identities, so about one per service called).
const maxClientConfigs = 4096

// Clients makes the outbound tls.Configs of one sidecar: one per set of
// server identities allowed to serve a service (secure naming), kept, so
// the same set always gets the same pointer and a push that does not
// change it keeps every pooled connection.
type Clients struct {
	src *Source
	hs  *Handshakes

	mu    sync.Mutex
	byKey map[string]*tls.Config
}

// NewClients returns the client side of src. hs may be nil.
func NewClients(src *Source, hs *Handshakes) *Clients {
	return &Clients{src: src, hs: hs, byKey: map[string]*tls.Config{}}
}

// For is the config for dialing servers whose SPIFFE ID is one of allowed
// (exact IDs, any order). An empty list admits any workload of the trust
// domain. ALPN is left to the caller (a Clone that sets NextProtos).
func (c *Clients) For(allowed []string) (*tls.Config, error) {
	ids := make([]spiffeid.ID, 0, len(allowed))
	for i, s := range allowed {
		id, err := spiffeid.FromString(s)
		if err != nil {
			return nil, fmt.Errorf("mtls: allowed[%d] %q: %w", i, s, err)
		}
		ids = append(ids, id)
	}
	key := append([]string(nil), allowed...)
	slices.Sort(key)
	k := strings.Join(key, " ")
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg := c.byKey[k]; cfg != nil {
		return cfg, nil
	}
	cfg := c.newConfig(ids)
	if len(c.byKey) < maxClientConfigs {
		c.byKey[k] = cfg
	}
	return cfg, nil
}

func (c *Clients) newConfig(allowed []spiffeid.ID) *tls.Config {
	src, hs := c.src, c.hs
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		// Go's own check is of a DNS name against ServerName, which a
		// SPIFFE SVID does not carry: the chain and the URI SAN are
		// checked in VerifyConnection instead, on resumption too.
		InsecureSkipVerify: true,
		// No ClientSessionCache: a resumed session carries the server
		// certificate of its first handshake, which VerifyConnection would
		// refuse once its root left the bundle or it expired (Go skips its
		// own expiry check under InsecureSkipVerify), failing a request
		// that a full handshake would have carried. Connections are
		// pooled, so handshakes follow connections, not requests.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cur := src.Current()
			if cur == nil {
				return nil, ErrNoSVID
			}
			return &cur.Certificate, nil
		},
		VerifyConnection: func(cs tls.ConnectionState) error {
			_, err := verifyPeer(src.Current(), cs.PeerCertificates, x509.ExtKeyUsageServerAuth, allowed, time.Now())
			hs.count(Client, cs.DidResume, err)
			return err
		},
	}
}

package controlplane

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/ca"
	"github.com/weft-mesh/weft/internal/identity"
)

// serverCert is the control plane's serving certificate, issued by its own
// CA and reissued in memory once past half its life: the handshake that
// finds it stale makes the next one, so nothing runs in the background.
type serverCert struct {
	ca    *ca.Authority
	hosts []string
	ttl   time.Duration
	log   *slog.Logger

	mu    sync.Mutex
	cur   *tls.Certificate
	renew time.Time
}

func newServerCert(a *ca.Authority, hosts []string, ttl time.Duration, log *slog.Logger) (*serverCert, error) {
	s := &serverCert{ca: a, hosts: hosts, ttl: ttl, log: log}
	if _, err := s.get(nil); err != nil {
		return nil, err
	}
	log.Info("serving certificate issued", "names", hosts, "notAfter", s.cur.Leaf.NotAfter)
	return s, nil
}

// get is tls.Config.GetCertificate. A root rotation's new signer makes
// the next handshake reissue the certificate from it.
func (s *serverCert) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil && time.Now().Before(s.renew) && s.cur.Leaf.CheckSignatureFrom(s.ca.Signing()) == nil {
		return s.cur, nil
	}
	c, err := s.ca.IssueServer(s.hosts, s.ttl)
	if err != nil {
		if s.cur != nil && time.Now().Before(s.cur.Leaf.NotAfter) {
			s.log.Warn("serving certificate not renewed; keeping the current one", "err", err)
			return s.cur, nil
		}
		return nil, err
	}
	// Half of the life left from now (NotBefore is backdated).
	now := time.Now()
	s.cur, s.renew = c, now.Add(c.Leaf.NotAfter.Sub(now)/2)
	return c, nil
}

// serverNames are the names and addresses the serving certificate covers:
// the listeners' hosts, localhost, the loopback addresses, extra names,
// and for a wildcard listener the host name and interface addresses.
func serverNames(listen []string, extra []string) []string {
	names := []string{"localhost", "127.0.0.1", "::1"}
	wildcard := false
	for _, a := range listen {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			wildcard = true
			continue
		}
		names = append(names, host)
	}
	if wildcard {
		if h, err := os.Hostname(); err == nil {
			names = append(names, h)
		}
		if addrs, err := net.InterfaceAddrs(); err == nil {
			for _, a := range addrs {
				if ipn, ok := a.(*net.IPNet); ok {
					names = append(names, ipn.IP.String())
				}
			}
		}
	}
	return append(names, extra...)
}

// tlsConfigs are the API's (client certificates optional: the operator
// uses a token) and the xDS port's (a mesh client certificate required).
// Client certificates are verified against the CA's bundle of the moment:
// during a root rotation a sidecar renewed onto the new root, or still on
// the old one, is accepted alike, and once the old root leaves the bundle
// its leaves are refused.
func tlsConfigs(sc *serverCert, a *ca.Authority) (apiTLS, xdsTLS *tls.Config) {
	pools := &bundlePools{ca: a}
	// NextProtos are set here, not left to net/http and grpc-go: a
	// config from GetConfigForClient is used as it is.
	apiTLS = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: sc.get,
		ClientAuth:     tls.VerifyClientCertIfGiven,
		NextProtos:     []string{"h2", "http/1.1"},
	}
	xdsTLS = &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: sc.get,
		ClientAuth:     tls.RequireAndVerifyClientCert,
		NextProtos:     []string{"h2"},
	}
	for _, c := range []*tls.Config{apiTLS, xdsTLS} {
		base := c
		base.VerifyConnection = pools.verifyResumed
		base.ClientCAs = pools.pool()
		base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			p := pools.pool()
			if p == base.ClientCAs {
				return nil, nil // the bundle has not changed since start
			}
			return pools.config(base, p), nil
		}
	}
	return apiTLS, xdsTLS
}

// bundlePools keeps one x509.CertPool per bundle, made when the bundle
// changes, and the per-bundle configs derived from each base config.
type bundlePools struct {
	ca *ca.Authority

	mu    sync.Mutex
	roots []*x509.Certificate
	cur   *x509.CertPool
	cfgs  map[*tls.Config]*tls.Config // base -> clone with cur
}

func (b *bundlePools) pool() *x509.CertPool {
	roots := b.ca.Bundle()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur != nil && sameCerts(roots, b.roots) {
		return b.cur
	}
	p := x509.NewCertPool()
	for _, r := range roots {
		p.AddCert(r)
	}
	b.roots, b.cur, b.cfgs = roots, p, map[*tls.Config]*tls.Config{}
	return p
}

// verifyResumed checks a resumed session's client certificate against
// the bundle of the moment: Go resumes a session with no certificate
// check, so a ticket issued before a root left the bundle (or before the
// certificate expired) would otherwise outlive it. Full handshakes were
// verified against the current pool already.
func (b *bundlePools) verifyResumed(cs tls.ConnectionState) error {
	if !cs.DidResume || len(cs.PeerCertificates) == 0 {
		return nil
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: b.pool(), Intermediates: inter,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return fmt.Errorf("resumed session: client certificate no longer trusted: %w", err)
	}
	return nil
}

// config is base with the client CAs p, made once per bundle.
func (b *bundlePools) config(base *tls.Config, p *x509.CertPool) *tls.Config {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.cur == p {
		if c := b.cfgs[base]; c != nil {
			return c
		}
	}
	c := base.Clone()
	c.ClientCAs, c.GetConfigForClient = p, nil
	if b.cur == p {
		b.cfgs[base] = c
	}
	return c
}

func sameCerts(a, b []*x509.Certificate) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !a[i].Equal(b[i]) {
			return false
		}
	}
	return true
}

// workloadOf returns the identity of a verified client certificate chain.
func workloadOf(a *ca.Authority, chain []*x509.Certificate) (identity.Workload, error) {
	return identity.Verify(chain, a.TrustDomain(), a.Bundle(), time.Now())
}

// writeCAFile writes the bundle to dir/ca.pem, for the CLI and sidecars.
func writeCAFile(dir string, a *ca.Authority) (string, error) {
	var data []byte
	for _, r := range a.Bundle() {
		data = append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.Raw})...)
	}
	path := filepath.Join(dir, CAFile)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("ca file: %w", err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return "", fmt.Errorf("ca file: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("ca file: %w", err)
	}
	return path, nil
}

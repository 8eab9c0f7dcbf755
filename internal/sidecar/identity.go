package sidecar

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/identity"
	"github.com/weft-mesh/weft/internal/mtls"
)

// Identity says how this sidecar gets its workload certificate (an
// X.509-SVID) from the control plane's CA. The key is made here and never
// leaves the process (nor cacheDir, when set).
type Identity struct {
	// TokenFile holds a join token from `weft token create`
	// (SECRET.sha256:PIN: the pin is the hash of the CA's root, so the
	// sidecar trusts the control plane on first contact without
	// controlPlane.caFile). It is read only when the sidecar has no valid
	// certificate: at first start, or when the one cached in
	// controlPlane.cacheDir has expired. Renewals authenticate with the
	// current certificate. Required.
	TokenFile string `yaml:"tokenFile" json:"tokenFile"`
	// WarnBefore is how long before the certificate expires the sidecar
	// warns that it could not renew it: weft_sidecar_cert_expiring turns
	// 1, a warning is logged at each failed attempt with the time left,
	// and /ready and /config say EXPIRING. Renewal starts at half-life, so
	// it only fires when the control plane has been unreachable for a
	// while. Default: a quarter of the certificate's lifetime (6 h for
	// 24 h certificates).
	WarnBefore time.Duration `yaml:"warnBefore" json:"warnBefore,omitempty"`
}

func validateIdentity(fe *fieldErrors, c *Config) {
	if c.Identity == nil {
		return
	}
	if c.Identity.TokenFile == "" {
		fe.add("identity.tokenFile", "required: the join token file (weft token create)")
	}
	if c.Identity.WarnBefore < 0 {
		fe.add("identity.warnBefore", "must not be negative")
	}
	if c.ControlPlane == nil || len(c.ControlPlane.API) == 0 {
		fe.add("identity", "needs controlPlane.api, where the CA is")
	}
}

// certClient keeps the sidecar's SVID current: it renews at half-life and
// retries with backoff, and on failure keeps serving with the certificate
// it has until that expires.
type certClient struct {
	api       *apiclient.Client
	trust     *cpTrust
	servers   []string
	renewNow  <-chan struct{} // a renewal now: the CA switched roots (rootca.go); nil never receives
	tokenFile string
	cacheFile string // "" disables the cache
	src       *mtls.Source
	log       *slog.Logger
	now       func() time.Time
	// onIssued is told the SPIFFE ID of each certificate put in use.
	onIssued func(id string)
	// status is what the metrics, /ready and /config report about the
	// certificate and its renewal.
	status *certStatus
}

// maxTokenFile caps the token file; a token is about 50 bytes.
const maxTokenFile = 4 << 10

// issue gets a new SVID for a fresh key: with the join token when cur is
// nil, else by proving possession of cur.
func (c *certClient) issue(ctx context.Context, cur *mtls.SVID) (*mtls.SVID, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("svid: %w", err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("svid: csr: %w", err)
	}
	req := api.SVIDRequest{CSR: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))}
	if cur == nil {
		if req.Token, err = readToken(c.tokenFile); err != nil {
			return nil, err
		}
		_, pin, err := identity.SplitJoinToken(req.Token)
		if err != nil {
			return nil, fmt.Errorf("svid: identity.tokenFile: %w", err)
		}
		if err := c.trust.bootstrap(ctx, c.servers, pin); err != nil {
			return nil, fmt.Errorf("svid: %w", err)
		}
	} else {
		req.SVID = encodeCerts(cur.Certificate.Certificate)
		signer, ok := cur.Certificate.PrivateKey.(*ecdsa.PrivateKey)
		if !ok {
			return nil, errors.New("svid: current key is not ECDSA")
		}
		if req.Proof, err = identity.RenewalProof(signer, []byte(req.CSR)); err != nil {
			return nil, err
		}
	}
	res, err := c.api.SVID(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("svid: %w", err)
	}
	return accept(res, key, c.now())
}

// accept checks an answer before using it: the chain verifies against the
// bundle (go-spiffe), names the identity claimed, and is for our key.
func accept(res api.SVID, key *ecdsa.PrivateKey, now time.Time) (*mtls.SVID, error) {
	chain, err := decodeCerts(res.Chain)
	if err != nil {
		return nil, fmt.Errorf("svid: chain: %w", err)
	}
	bundle, err := decodeCerts(res.Bundle)
	if err != nil {
		return nil, fmt.Errorf("svid: bundle: %w", err)
	}
	want, err := identity.Parse(res.SPIFFEID)
	if err != nil {
		return nil, fmt.Errorf("svid: %w", err)
	}
	got, err := identity.Verify(chain, want.ID.TrustDomain(), bundle, now)
	if err != nil {
		return nil, fmt.Errorf("svid: %w", err)
	}
	if got.ID != want.ID || !key.PublicKey.Equal(chain[0].PublicKey) {
		return nil, errors.New("svid: the certificate is not for this identity and key")
	}
	raw := make([][]byte, len(chain))
	for i, c := range chain {
		raw[i] = c.Raw
	}
	return &mtls.SVID{Certificate: tls.Certificate{Certificate: raw, PrivateKey: key, Leaf: chain[0]}, ID: got.ID.String(), Bundle: bundle}, nil
}

// renewAt is half-way through the certificate's life as this sidecar has
// it: from when it got it (or NotBefore, if later) to NotAfter. NotBefore
// alone will not do: the CA backdates it a minute for clock skew, which
// would put the half-life of a lifetime under two minutes in the past and
// renew in a loop.
func renewAt(s *mtls.SVID, got time.Time) time.Time {
	l := s.Certificate.Leaf
	from := l.NotBefore
	if got.After(from) {
		from = got
	}
	return from.Add(l.NotAfter.Sub(from) / 2)
}

// run keeps the SVID current until ctx ends.
func (c *certClient) run(ctx context.Context) {
	cur := c.loadCache()
	got := c.now()
	var life time.Duration // the last certificate's lifetime, as we had it
	if cur != nil {
		life = cur.NotAfter().Sub(got)
		c.status.issued(got)
		c.onIssued(cur.ID)
	}
	backoff := time.Second
	for {
		if cur != nil {
			wait := renewAt(cur, got).Sub(c.now())
			if wait > 0 && !c.sleepOrRenew(ctx, wait) {
				return
			}
		}
		valid := cur
		if valid != nil && !c.now().Before(valid.NotAfter()) {
			c.log.Warn("certificate expired; asking again with the join token", "spiffeId", valid.ID, "notAfter", valid.NotAfter())
			valid = nil
		}
		rctx, cancel := context.WithTimeout(ctx, apiclient.DefaultTimeout)
		next, err := c.issue(rctx, valid)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			c.status.failed(err)
			c.logFailure(cur, valid != nil, backoff, err)
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(backoff*2, maxBackoff(life))
			if valid == nil {
				cur = nil
			}
			continue
		}
		backoff = time.Second
		c.src.Set(next)
		cur, got = next, c.now()
		life = cur.NotAfter().Sub(got)
		c.status.issued(got)
		c.onIssued(next.ID)
		c.log.Info("certificate issued", "spiffeId", next.ID, "renewal", valid != nil, "notAfter", next.NotAfter(), "renewAt", renewAt(next, got))
		if err := c.saveCache(next); err != nil {
			c.log.Warn("certificate cache not written", "err", err)
		}
	}
}

// sleepOrRenew waits d, or until a root rotation asks for a renewal now
// (then a short random wait, so sidecars do not all ask at once); false
// when ctx ended.
func (c *certClient) sleepOrRenew(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	case <-c.renewNow:
		c.log.Info("renewing now: the CA signs with a new root")
		return sleep(ctx, renewJitter())
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func readToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("svid: identity.tokenFile: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTokenFile))
	if err != nil {
		return "", fmt.Errorf("svid: identity.tokenFile: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", fmt.Errorf("svid: identity.tokenFile %s: empty", path)
	}
	return tok, nil
}

func encodeCerts(ders [][]byte) string {
	var b bytes.Buffer
	for _, d := range ders {
		pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: d})
	}
	return b.String()
}

func decodeCerts(s string) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	data := []byte(s)
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no certificate")
	}
	return out, nil
}

// cached is the cache file: a restarted sidecar renews with it instead of
// needing a new join token. Mode 0600: it holds the private key.
type cached struct {
	Key    string `json:"key"`
	Chain  string `json:"chain"`
	Bundle string `json:"bundle"`
	ID     string `json:"spiffeId"`
}

func (c *certClient) saveCache(s *mtls.SVID) error {
	if c.cacheFile == "" {
		return nil
	}
	k, err := x509.MarshalPKCS8PrivateKey(s.Certificate.PrivateKey)
	if err != nil {
		return err
	}
	var bundle [][]byte
	for _, r := range s.Bundle {
		bundle = append(bundle, r.Raw)
	}
	data, err := json.Marshal(cached{
		Key:   string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: k})),
		Chain: encodeCerts(s.Certificate.Certificate), Bundle: encodeCerts(bundle), ID: s.ID,
	})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.cacheFile), 0o700); err != nil {
		return err
	}
	tmp := c.cacheFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, c.cacheFile)
}

// loadCache returns the cached SVID if it is still valid, else nil.
func (c *certClient) loadCache() *mtls.SVID {
	if c.cacheFile == "" {
		return nil
	}
	data, err := os.ReadFile(c.cacheFile)
	if err != nil {
		return nil
	}
	var ch cached
	if err := json.Unmarshal(data, &ch); err != nil {
		c.log.Warn("certificate cache unreadable; ignoring it", "file", c.cacheFile)
		return nil
	}
	b, _ := pem.Decode([]byte(ch.Key))
	if b == nil {
		return nil
	}
	k, err := x509.ParsePKCS8PrivateKey(b.Bytes)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil
	}
	s, err := accept(api.SVID{SPIFFEID: ch.ID, Chain: ch.Chain, Bundle: ch.Bundle}, key, c.now())
	if err != nil {
		c.log.Info("cached certificate not usable", "err", err)
		return nil
	}
	c.src.Set(s)
	c.log.Info("certificate loaded from cache", "spiffeId", s.ID, "notAfter", s.NotAfter())
	return s
}

func (s *Sidecar) newCertClient(cfg *Config, trust *cpTrust) (*certClient, error) {
	// A client of its own: its connections, opened before the sidecar has
	// a certificate, must not be pooled with the registrar's.
	// A renewal presents the current certificate: never a connection
	// opened with an earlier one.
	c, err := apiclient.NewWith(apiclient.Options{TLS: trust.config(), FreshConnections: true}, cfg.ControlPlane.API...)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	cc := &certClient{api: c, trust: trust, servers: cfg.ControlPlane.API, tokenFile: cfg.Identity.TokenFile, src: &s.svid, log: s.log.With("part", "identity"), now: time.Now,
		// The peer header names this sidecar's principal, so a callee can
		// tie the workload it claims to the mTLS peer that connected.
		onIssued: s.self.SetPrincipal, status: s.certs}
	if d := cfg.ControlPlane.CacheDir; d != "" {
		cc.cacheFile = filepath.Join(d, "svid-"+sanitize(cfg.Node)+".json")
	}
	return cc, nil
}

// sanitize keeps a node name from leaving the cache directory.
func sanitize(s string) string { return strings.NewReplacer("/", "_", "\\", "_").Replace(s) }

// certExpiryMetric reports the current certificate's expiry, so an alert
// can fire well before it (expiry - time() < 1h): while the control plane
// is down, traffic keeps flowing only until then.
func (s *Sidecar) certExpiryMetric() prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "weft_sidecar_cert_expiry_seconds",
		Help: "Unix time at which this sidecar's workload certificate expires; 0 before it has one.",
	}, func() float64 {
		if cur := s.svid.Current(); cur != nil {
			return float64(cur.NotAfter().Unix())
		}
		return 0
	})
}

package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
	"github.com/weft-mesh/weft/internal/identity"
)

// runCreds are weft run's credentials: the operator client it checks
// registration with, the join token file its sidecar starts from, and the
// CA file, if one was found.
type runCreds struct {
	api       *apiclient.Client
	tokenFile string
	caFile    string
	cleanup   func()
}

// joinTokenTTL bounds a join token weft run makes for itself: it is
// spent within --wait, and useless after.
const joinTokenTTL = 10 * time.Minute

// prepareCreds finds the operator token and CA (as every weft command
// does) and, without --join-token-file, makes a single-use join token for
// the service with the operator token.
func prepareCreds(ctx context.Context, o *runOpts) (*runCreds, error) {
	server := strings.Join(o.api, ",")
	found, err := findCreds(o.tokenFile, o.caFile)
	if err != nil {
		return nil, err
	}
	if o.joinTokenFile != "" && found.caPool == nil {
		// The join token's CA pin is all there is to trust the control
		// plane with: the sidecar checks it, and so do weft run's own
		// registration checks.
		b, err := readCred(o.joinTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--join-token-file: %w", err)
		}
		_, pin, err := identity.SplitJoinToken(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("--join-token-file: %w", err)
		}
		if pin == "" {
			return nil, errors.New("--join-token-file: the token has no CA pin (SECRET.sha256:HEX) and no CA bundle was found: pass --ca-file")
		}
		c, err := apiclient.NewWith(apiclient.Options{TLS: pinnedTLS(pin), Token: found.token}, o.api...)
		if err != nil {
			return nil, err
		}
		return &runCreds{api: c, tokenFile: o.joinTokenFile, cleanup: func() {}}, nil
	}
	t := &cpTarget{server: &server, tokenFile: &o.tokenFile, caFile: &o.caFile}
	c, err := t.client()
	if err != nil {
		return nil, err
	}
	rc := &runCreds{api: c, tokenFile: o.joinTokenFile, caFile: found.caFrom, cleanup: func() {}}
	if rc.tokenFile != "" {
		return rc, nil
	}
	if found.token == "" {
		return nil, fmt.Errorf("the sidecar needs a join token: pass --join-token-file (weft token create --service %s), or give weft run the operator token to make one (looked in %s)", o.service, strings.Join(found.tried, ", "))
	}
	cctx, cancel := context.WithTimeout(ctx, apiclient.DefaultTimeout)
	defer cancel()
	tok, err := c.CreateToken(cctx, api.TokenRequest{Service: o.service, TTLSeconds: int64(joinTokenTTL / time.Second), Uses: 1})
	if err != nil {
		return nil, fmt.Errorf("make a join token for %s: %w", o.service, err)
	}
	dir, err := os.MkdirTemp("", "weft-run-")
	if err != nil {
		return nil, err
	}
	rc.cleanup = func() { os.RemoveAll(dir) }
	rc.tokenFile = filepath.Join(dir, "join.token")
	if err := os.WriteFile(rc.tokenFile, []byte(tok.Token+"\n"), 0o600); err != nil {
		rc.cleanup()
		return nil, err
	}
	return rc, nil
}

// pinnedTLS verifies the control plane by a CA pin: the root it sends at
// the end of its chain must hash to pin, and the chain must verify
// against that root for the host dialled.
func pinnedTLS(pin string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, //nolint:gosec // verified in VerifyConnection against the pinned root
		VerifyConnection: func(cs tls.ConnectionState) error {
			root, err := identity.MatchPin(cs.PeerCertificates, pin)
			if err != nil {
				return err
			}
			roots, inter := x509.NewCertPool(), x509.NewCertPool()
			roots.AddCert(root)
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err = cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: cs.ServerName})
			return err
		},
	}
}

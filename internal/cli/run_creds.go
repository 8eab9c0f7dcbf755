package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
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
	t := &cpTarget{server: &server, tokenFile: &o.tokenFile, caFile: &o.caFile}
	c, err := t.client()
	if err != nil {
		return nil, err
	}
	found, _ := findCreds(o.tokenFile, o.caFile)
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

package cli

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	apiclient "github.com/weft-mesh/weft/internal/api/client"
)

// cpTarget is where the control plane is and the credentials to reach it:
// its CA bundle (to verify it) and the operator token (to be allowed).
type cpTarget struct {
	server, tokenFile, caFile *string
}

func serverFlag(fs *flag.FlagSet) *cpTarget {
	return &cpTarget{
		server:    fs.String("server", defaultServer(), "control-plane API address(es), comma-separated replicas (env WEFT_SERVER)"),
		tokenFile: fs.String("token-file", "", "file holding the operator token (env WEFT_TOKEN_FILE, or the token itself in WEFT_TOKEN; default DATA_DIR/operator.token)"),
		caFile:    fs.String("ca-file", "", "the control plane's CA bundle, PEM (env WEFT_CA_FILE; default DATA_DIR/ca.pem)"),
	}
}

// defaultDataDir is weft control's default --data-dir, where it writes
// ca.pem and operator.token: $XDG_STATE_HOME/weft, else ~/.local/state/weft.
func defaultDataDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "weft")
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".local", "state", "weft")
	}
	return ""
}

// maxCredFile caps a token or CA file read.
const maxCredFile = 1 << 20

func readCred(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxCredFile))
}

// creds finds the operator token and the CA bundle: flags first, then the
// environment, then the default data directory's files. tried lists
// where it looked for the token, for the message of a 401.
type creds struct {
	token  string
	tried  []string
	caPool *x509.CertPool
	caFrom string
	caSeen []string
}

func findCreds(tokenFile, caFile string) (creds, error) {
	var c creds
	dd := defaultDataDir()
	// The token.
	switch {
	case tokenFile != "":
		c.tried = append(c.tried, "--token-file "+tokenFile)
	case os.Getenv("WEFT_TOKEN") != "":
		c.token = strings.TrimSpace(os.Getenv("WEFT_TOKEN"))
	case os.Getenv("WEFT_TOKEN_FILE") != "":
		tokenFile = os.Getenv("WEFT_TOKEN_FILE")
		c.tried = append(c.tried, "WEFT_TOKEN_FILE="+tokenFile)
	default:
		c.tried = append(c.tried, "--token-file (unset)", "WEFT_TOKEN (unset)", "WEFT_TOKEN_FILE (unset)")
		if dd != "" {
			tokenFile = filepath.Join(dd, "operator.token")
			c.tried = append(c.tried, tokenFile)
		}
	}
	if c.token == "" && tokenFile != "" {
		b, err := readCred(tokenFile)
		switch {
		case err == nil:
			c.token = strings.TrimSpace(string(b))
		case len(c.tried) == 1 || !errors.Is(err, os.ErrNotExist):
			// A file named explicitly must be there.
			return c, fmt.Errorf("operator token: %w", err)
		default:
			c.tried[len(c.tried)-1] += " (missing)"
		}
	}
	// The CA.
	explicit := true
	switch {
	case caFile != "":
	case os.Getenv("WEFT_CA_FILE") != "":
		caFile = os.Getenv("WEFT_CA_FILE")
	default:
		explicit = false
		if dd != "" {
			caFile = filepath.Join(dd, "ca.pem")
		}
	}
	c.caSeen = []string{"--ca-file", "WEFT_CA_FILE"}
	if caFile != "" {
		c.caSeen = append(c.caSeen, caFile)
		b, err := readCred(caFile)
		if err != nil && (explicit || !errors.Is(err, os.ErrNotExist)) {
			return c, fmt.Errorf("control plane CA: %w", err)
		}
		if err == nil {
			c.caPool = x509.NewCertPool()
			if !c.caPool.AppendCertsFromPEM(b) {
				return c, fmt.Errorf("control plane CA %s: no PEM certificate", caFile)
			}
			c.caFrom = caFile
		}
	}
	return c, nil
}

// client connects to the target's replicas: TLS verified with the CA
// bundle, and the operator token when one was found. An address given as
// http://... stays plain (tests of the API handler).
func (t *cpTarget) client() (*apiclient.Client, error) {
	c, err := findCreds(*t.tokenFile, *t.caFile)
	if err != nil {
		return nil, err
	}
	o := apiclient.Options{Token: c.token}
	if c.token == "" {
		o.AuthHint = "no operator token found; looked in " + strings.Join(c.tried, ", ") + " (weft control writes it to DATA_DIR/operator.token on first start)"
	} else {
		o.AuthHint = "the operator token was refused; weft control --reset-operator-token makes a new one"
	}
	if !strings.HasPrefix(*t.server, "http://") {
		if c.caPool == nil && !strings.HasPrefix(*t.server, "https://") {
			return nil, fmt.Errorf("the control plane serves TLS and no CA bundle was found to verify it; looked in %s (weft control writes DATA_DIR/ca.pem)", strings.Join(c.caSeen, ", "))
		}
		o.TLS = &tls.Config{RootCAs: c.caPool, MinVersion: tls.VersionTLS12}
	}
	return apiclient.NewWith(o, *t.server)
}

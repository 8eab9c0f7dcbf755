package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// The control plane serves TLS and needs credentials: the harness keeps,
// per API address, where each control plane wrote its ca.pem and
// operator.token, and gives sidecars join tokens, so tests written before
// security was on keep working unchanged.

var (
	credsMu   sync.Mutex
	credsDirs = map[string]string{} // API address -> credentials dir
	// sharedCreds is one directory per external etcd, so replicas sharing
	// a store share the operator token the first one wrote.
	sharedCreds = map[string]string{}
)

// credsArgs adds --credentials-dir for a control plane on external etcd
// and returns the directory its credentials go to.
func credsArgs(t *testing.T, store []string) ([]string, string) {
	for i, a := range store {
		if a == "--data-dir" && i+1 < len(store) {
			return store, store[i+1]
		}
		if a == "--etcd-endpoints" && i+1 < len(store) {
			credsMu.Lock()
			defer credsMu.Unlock()
			d, ok := sharedCreds[store[i+1]]
			if !ok {
				d = t.TempDir()
				sharedCreds[store[i+1]] = d
			}
			return append(append([]string(nil), store...), "--credentials-dir", d), d
		}
	}
	return store, ""
}

func registerCreds(api, dir string) {
	credsMu.Lock()
	defer credsMu.Unlock()
	credsDirs[api] = dir
}

// credsFor is the credentials dir of the first control plane named in
// servers (comma-separated API addresses).
func credsFor(servers string) string {
	credsMu.Lock()
	defer credsMu.Unlock()
	for _, s := range strings.Split(servers, ",") {
		if d, ok := credsDirs[strings.TrimSpace(s)]; ok {
			return d
		}
	}
	return ""
}

// credsEnv points the CLI at the control plane's credentials.
func credsEnv(servers string) []string {
	d := credsFor(servers)
	if d == "" {
		return nil
	}
	return []string{"WEFT_TOKEN_FILE=" + filepath.Join(d, "operator.token"), "WEFT_CA_FILE=" + filepath.Join(d, "ca.pem")}
}

// cpHTTP is an HTTP client that verifies the control plane with its
// ca.pem (nil until the file exists).
func cpHTTP(dir string) *http.Client {
	b, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(b)
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

// apiUp reports whether the control plane at api answers over TLS.
func apiUp(api, dir string) bool {
	c := cpHTTP(dir)
	if c == nil {
		return false
	}
	defer c.CloseIdleConnections()
	return httpOK(c, "https://"+api+"/v1/bundle")
}

var (
	apiListRE = regexp.MustCompile(`api: \[([^\]]*)\]`)
	serviceRE = regexp.MustCompile(`(?m)^service: *([a-z0-9-]+)`)
	regSvcRE  = regexp.MustCompile(`register: \{[^\n]*service: *([a-z0-9-]+)`)
)

// withIdentity adds identity.tokenFile (a fresh join token for the
// config's service) to a sidecar config that names a control plane's API
// and has no identity of its own.
func withIdentity(t *testing.T, cfg string) string {
	t.Helper()
	m := apiListRE.FindStringSubmatch(cfg)
	if m == nil || strings.Contains(cfg, "identity:") {
		return cfg
	}
	service := ""
	if s := regSvcRE.FindStringSubmatch(cfg); s != nil {
		service = s[1]
	} else if s := serviceRE.FindStringSubmatch(cfg); s != nil {
		service = s[1]
	}
	if service == "" {
		t.Fatalf("sidecar config names a control plane but no service to mint a join token for:\n%s", cfg)
	}
	servers := strings.ReplaceAll(m[1], " ", "")
	return cfg + fmt.Sprintf("identity: {tokenFile: %s}\n", joinTokenFile(t, servers, service))
}

// joinTokenFile mints a join token for service with `weft token create`
// and writes it to a file.
func joinTokenFile(t *testing.T, servers, service string) string {
	t.Helper()
	var out string
	var ok bool
	for try := 0; try < 3; try++ {
		if out, ok = weftOut(t, servers, "token", "create", "--service", service, "--ttl", "1h"); ok {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !ok {
		t.Fatalf("weft token create --service %s: %s", service, out)
	}
	path := filepath.Join(t.TempDir(), service+".token")
	if err := os.WriteFile(path, []byte(strings.TrimSpace(out)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// runCreds are the flags that give `weft run` the control plane's
// operator token (to mint its sidecar a join token) and CA bundle.
func (c *cp) runCreds() []string {
	return []string{"--token-file", filepath.Join(c.creds, "operator.token"), "--ca-file", filepath.Join(c.creds, "ca.pem")}
}

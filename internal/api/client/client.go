// Package client is the typed client of the control plane's admin API,
// used by the CLI and by sidecars to register. It tries each replica in
// turn, so one replica being down costs a retry, not a failure.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

// DefaultTimeout bounds one call when ctx has no deadline.
const DefaultTimeout = 10 * time.Second

// maxReply caps a reply body.
const maxReply = 64 << 20

// Client calls one or more control-plane replicas.
type Client struct {
	bases []string
	http  *http.Client
	token string
	hint  string
}

// Options are a client's credentials.
type Options struct {
	// TLS verifies the control plane (RootCAs: its ca.pem, or the bundle
	// a join token's pin vouched for) and may present a client
	// certificate (a sidecar's SVID, through GetClientCertificate). Set,
	// a host:port address means https. Nil: plain http (tests of the
	// handler alone).
	TLS *tls.Config
	// Token is the operator token, sent as "Authorization: Bearer".
	// Empty: none.
	Token string
	// AuthHint is added to the message of a 401 answer: the CLI says
	// there where it looked for the token.
	AuthHint string
	// FreshConnections opens a connection per request: a sidecar whose
	// client certificate rotates every few minutes (or seconds) must not
	// reuse a connection whose handshake showed a certificate that has
	// since expired, which the control plane checks on every request.
	FreshConnections bool
}

// New takes replica addresses (host:port or URLs) and speaks plain HTTP
// to a host:port.
func New(servers ...string) (*Client, error) { return NewWith(Options{}, servers...) }

// NewWith is New with credentials.
func NewWith(o Options, servers ...string) (*Client, error) {
	c := &Client{http: &http.Client{}, token: o.Token, hint: o.AuthHint}
	scheme := "http://"
	if o.TLS != nil {
		scheme = "https://"
		c.http.Transport = &http.Transport{TLSClientConfig: o.TLS, ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second, MaxIdleConnsPerHost: 4,
			DisableKeepAlives: o.FreshConnections}
	}
	for _, s := range servers {
		for _, one := range strings.Split(s, ",") {
			one = strings.TrimSpace(one)
			if one == "" {
				continue
			}
			if !strings.Contains(one, "://") {
				one = scheme + one
			}
			u, err := url.Parse(one)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("control plane address %q: not host:port or a URL", one)
			}
			c.bases = append(c.bases, strings.TrimSuffix(u.String(), "/"))
		}
	}
	if len(c.bases) == 0 {
		return nil, errors.New("no control plane address")
	}
	return c, nil
}

// Error is a non-2xx answer.
type Error struct {
	Code  int
	Reply api.Error
}

func (e *Error) Error() string {
	if len(e.Reply.Details) == 0 {
		return e.Reply.Error
	}
	return e.Reply.Error + "\n  " + strings.Join(e.Reply.Details, "\n  ")
}

// do sends one request to the first replica that answers. Only transport
// failures move on to the next replica: an answer, even an error, is final.
func (c *Client) do(ctx context.Context, method, path string, body []byte, out any) error {
	// The caller's deadline wins (a large apply may take longer); only a
	// call without one gets DefaultTimeout, for every replica tried.
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	var lastErr error
	for _, base := range c.bases {
		req, err := http.NewRequestWithContext(ctx, method, base+api.Version+path, bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		data, err := io.ReadAll(io.LimitReader(resp.Body, maxReply))
		resp.Body.Close()
		if err != nil {
			return fmt.Errorf("%s %s: read reply: %w", method, path, err)
		}
		if resp.StatusCode/100 != 2 {
			e := &Error{Code: resp.StatusCode}
			if json.Unmarshal(data, &e.Reply) != nil || e.Reply.Error == "" {
				e.Reply.Error = fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(data))
			}
			if resp.StatusCode == http.StatusUnauthorized {
				e.Reply.Error = "401 unauthenticated: " + e.Reply.Error
				if c.hint != "" {
					e.Reply.Details = append(e.Reply.Details, c.hint)
				}
			}
			return e
		}
		if out == nil {
			return nil
		}
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("%s %s: decode reply: %w", method, path, err)
		}
		return nil
	}
	return fmt.Errorf("%s %s: no control plane answered: %w", method, path, lastErr)
}

func dry(path string, dryRun bool) string {
	if dryRun {
		return path + "?dryRun=true"
	}
	return path
}

// Apply sends resources (JSON: one, an array or a List).
func (c *Client) Apply(ctx context.Context, resources []byte, dryRun bool) (api.ApplyResult, error) {
	var r api.ApplyResult
	err := c.do(ctx, http.MethodPost, dry("/apply", dryRun), resources, &r)
	return r, err
}

// Delete removes one resource.
func (c *Client) Delete(ctx context.Context, kind, namespace, name string, dryRun bool) (api.ApplyResult, error) {
	var r api.ApplyResult
	err := c.do(ctx, http.MethodDelete, dry("/resources/"+esc(kind)+"/"+esc(namespace)+"/"+esc(name), dryRun), nil, &r)
	return r, err
}

// Rollback restores the config of a past revision as a new revision.
func (c *Client) Rollback(ctx context.Context, revision int64, dryRun bool) (api.ApplyResult, error) {
	var r api.ApplyResult
	err := c.do(ctx, http.MethodPost, dry("/rollback/"+strconv.FormatInt(revision, 10), dryRun), nil, &r)
	return r, err
}

// History lists config revisions, newest first.
func (c *Client) History(ctx context.Context) ([]api.Revision, error) {
	var r []api.Revision
	err := c.do(ctx, http.MethodGet, "/history", nil, &r)
	return r, err
}

// List returns resources of kind ("" = all kinds) as JSON objects.
func (c *Client) List(ctx context.Context, kind string) ([]api.Resource, error) {
	p := "/resources"
	if kind != "" {
		p += "/" + esc(kind)
	}
	var r []api.Resource
	err := c.do(ctx, http.MethodGet, p, nil, &r)
	return r, err
}

// Get returns one resource.
func (c *Client) Get(ctx context.Context, kind, namespace, name string) (api.Resource, error) {
	var r api.Resource
	err := c.do(ctx, http.MethodGet, "/resources/"+esc(kind)+"/"+esc(namespace)+"/"+esc(name), nil, &r)
	return r, err
}

// Proxies lists the sidecars connected to the answering replica.
func (c *Client) Proxies(ctx context.Context) ([]api.Proxy, error) {
	var r []api.Proxy
	err := c.do(ctx, http.MethodGet, "/proxies", nil, &r)
	return r, err
}

// AllProxies asks every replica for its connected sidecars, since each
// sidecar streams from one replica only; replicas that do not answer are
// reported in errs, and the others still count.
func (c *Client) AllProxies(ctx context.Context) (ps []api.Proxy, errs []error) {
	for _, base := range c.bases {
		one := &Client{bases: []string{base}, http: c.http, token: c.token, hint: c.hint}
		got, err := one.Proxies(ctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", base, err))
			continue
		}
		for i := range got {
			got[i].Replica = strings.TrimPrefix(strings.TrimPrefix(base, "http://"), "https://")
		}
		ps = append(ps, got...)
	}
	return ps, errs
}

// Instances lists registered instances of service ("" = all).
func (c *Client) Instances(ctx context.Context, service string) ([]api.Instance, error) {
	var r []api.Instance
	p := "/instances"
	if service != "" {
		p += "?service=" + url.QueryEscape(service)
	}
	err := c.do(ctx, http.MethodGet, p, nil, &r)
	return r, err
}

// Register registers or renews an instance.
func (c *Client) Register(ctx context.Context, reg api.Registration) (api.Lease, error) {
	b, err := json.Marshal(reg)
	if err != nil {
		return api.Lease{}, fmt.Errorf("register: %w", err)
	}
	var r api.Lease
	err = c.do(ctx, http.MethodPost, "/instances", b, &r)
	return r, err
}

// Deregister removes an instance now.
func (c *Client) Deregister(ctx context.Context, service, id string, lease int64) error {
	return c.do(ctx, http.MethodDelete, "/instances/"+esc(service)+"/"+esc(id)+"?lease="+strconv.FormatInt(lease, 10), nil, nil)
}

func esc(s string) string { return url.PathEscape(s) }

// SVID asks the CA to sign a CSR (see api.SVIDRequest).
func (c *Client) SVID(ctx context.Context, req api.SVIDRequest) (api.SVID, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return api.SVID{}, fmt.Errorf("svid: %w", err)
	}
	var r api.SVID
	err = c.do(ctx, http.MethodPost, "/svid", b, &r)
	return r, err
}

// Bundle fetches the trust bundle.
func (c *Client) Bundle(ctx context.Context) (api.Bundle, error) {
	var r api.Bundle
	err := c.do(ctx, http.MethodGet, "/bundle", nil, &r)
	return r, err
}

// CreateToken makes a join token; the answer holds the only copy.
func (c *Client) CreateToken(ctx context.Context, req api.TokenRequest) (api.Token, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return api.Token{}, fmt.Errorf("create token: %w", err)
	}
	var r api.Token
	err = c.do(ctx, http.MethodPost, "/tokens", b, &r)
	return r, err
}

// RotateCA starts a root rotation, or with Finish ends its overlap now.
func (c *Client) RotateCA(ctx context.Context, req api.CARotateRequest) (api.CAStatus, error) {
	b, err := json.Marshal(req)
	if err != nil {
		return api.CAStatus{}, fmt.Errorf("rotate ca: %w", err)
	}
	var r api.CAStatus
	err = c.do(ctx, http.MethodPost, "/ca/rotate", b, &r)
	return r, err
}

// CAStatus reads the CA's roots and rotation phase.
func (c *Client) CAStatus(ctx context.Context) (api.CAStatus, error) {
	var r api.CAStatus
	err := c.do(ctx, http.MethodGet, "/ca", nil, &r)
	return r, err
}

package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/sidecar"
)

// explainTimeout bounds the whole call to a sidecar's admin listener.
const explainTimeout = 5 * time.Second

// maxExplainAnswer caps the answer read from a sidecar.
const maxExplainAnswer = 4 << 20

// headerFlags collects repeated -H values.
type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

const explainUsage = `usage: weft explain (--admin ADDR | --from NODE|SERVICE) [--inbound [--peer SPIFFE_ID] [--port N]] [METHOD] URL [-H 'Name: value']... [-o text|json]
  explains what that sidecar's outbound tables do with the request, from the sidecar itself;
  with --inbound, whether its authorization policies let the request in from that peer, and the rule that decided`

func runExplain(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("explain", stderr)
	server := serverFlag(fs)
	admin := fs.String("admin", "", "the sidecar's admin address (host:port)")
	from := fs.String("from", "", "the sidecar by node or service name, looked up in the control plane's registered instances")
	out := fs.String("o", "text", "output: text or json")
	inbound := fs.Bool("inbound", false, "explain the request as arriving at the sidecar's inbound side: the authorization decision")
	peer := fs.String("peer", "", "with --inbound: the caller's SPIFFE ID (default: a plaintext caller)")
	port := fs.Int("port", 0, "with --inbound: the inbound port the request arrives on")
	var hdrs headerFlags
	fs.Var(&hdrs, "H", "request header 'Name: value' (repeatable)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	req := sidecar.ExplainRequest{Headers: hdrs, Inbound: *inbound, Peer: *peer, Port: *port}
	switch len(pos) {
	case 1:
		req.URL = pos[0]
	case 2:
		req.Method, req.URL = strings.ToUpper(pos[0]), pos[1]
	}
	if req.URL == "" || (*admin == "") == (*from == "") || *out != "text" && *out != "json" || !*inbound && (*peer != "" || *port != 0) {
		fmt.Fprintln(stderr, explainUsage)
		return errUsage
	}
	ctx, cancel := context.WithTimeout(ctx, explainTimeout)
	defer cancel()
	addr, who := *admin, *admin
	if *from != "" {
		if addr, err = adminOf(ctx, server, *from); err != nil {
			return err
		}
		who = fmt.Sprintf("%s (admin %s)", *from, addr)
	}
	raw, err := askExplain(ctx, addr, req)
	if err != nil {
		if *from != "" && isLoopback(addr) {
			return fmt.Errorf("%w; %s listens on loopback, which only its own host reaches: run weft explain there, or bind its admin to an address this host can reach", err, who)
		}
		return err
	}
	if *out == "json" {
		_, err := stdout.Write(raw)
		return err
	}
	var e sidecar.Explanation
	if err := json.Unmarshal(raw, &e); err != nil {
		return fmt.Errorf("answer from %s: %w", addr, err)
	}
	return renderExplain(stdout, e)
}

// askExplain posts req to a sidecar's admin listener.
func askExplain(ctx context.Context, addr string, req sidecar.ExplainRequest) ([]byte, error) {
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("admin address %q: want host:port", addr)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/explain", bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("admin address %q: %w", addr, err)
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("sidecar admin %s unreachable: %w", addr, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxExplainAnswer))
	if err != nil {
		return nil, fmt.Errorf("reading the answer of %s: %w", addr, err)
	}
	switch {
	case resp.StatusCode == http.StatusBadRequest:
		return nil, errors.New("sidecar refused the request: " + strings.TrimPrefix(strings.TrimSpace(string(raw)), "explain: "))
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed:
		return nil, fmt.Errorf("%s has no /explain: is it a sidecar's admin address, of a weft that has explain?", addr)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s answered %s: %s", addr, resp.Status, strings.TrimSpace(string(raw)))
	}
	return raw, nil
}

// adminOf finds the admin address that the sidecar called name (its node,
// or the service of its only node) registered with.
func adminOf(ctx context.Context, server *cpTarget, name string) (string, error) {
	c, err := server.client()
	if err != nil {
		return "", err
	}
	ins, err := c.Instances(ctx, "")
	if err != nil {
		return "", fmt.Errorf("--from %s: listing instances: %w", name, err)
	}
	var hits []api.Instance
	known := map[string]bool{}
	for _, in := range ins {
		known[in.Node] = true
		if in.Node == name {
			hits = []api.Instance{in}
			break
		}
		if in.Service == name {
			hits = append(hits, in)
		}
	}
	nodes := map[string]api.Instance{}
	for _, in := range hits {
		nodes[in.Node] = in
	}
	switch len(nodes) {
	case 0:
		delete(known, "")
		return "", fmt.Errorf("--from %s: no registered instance has that node or service name (nodes: %s); only sidecars that register report their admin address: use --admin ADDR for others", name, strings.Join(sortedKeys(known), ", "))
	case 1:
	default:
		return "", fmt.Errorf("--from %s: the service has instances on nodes %s: name one of them", name, strings.Join(sortedKeys(nodes), ", "))
	}
	in := nodes[sortedKeys(nodes)[0]]
	if in.Admin == "" {
		return "", fmt.Errorf("--from %s: node %q registered no admin address (admin off, or an older weft): use --admin ADDR", name, in.Node)
	}
	host, port, err := net.SplitHostPort(in.Admin)
	if err != nil {
		return "", fmt.Errorf("--from %s: node %q registered admin %q: %w", name, in.Node, in.Admin, err)
	}
	// An admin on every interface is reached where its instance is.
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() || host == "" {
		return net.JoinHostPort(in.Address, port), nil
	}
	return in.Admin, nil
}

func isLoopback(addr string) bool {
	host, _, _ := net.SplitHostPort(addr)
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

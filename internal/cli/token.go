package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

const tokenUsage = "usage: weft token create --service NAME [--namespace NS] [--ttl 1h] [--uses 1] [-o text|json]"

// runToken makes a join token: the one credential a new sidecar has before
// its first certificate.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		fmt.Fprintln(stderr, tokenUsage)
		return errUsage
	}
	fs := newFlags("token create", stderr)
	server := serverFlag(fs)
	service := fs.String("service", "", "the service whose identity the token admits (the SPIFFE ID's sa); required")
	namespace := fs.String("namespace", "default", "the service's namespace (the SPIFFE ID's ns)")
	ttl := fs.Duration("ttl", time.Hour, "how long the token is usable (at most 168h)")
	uses := fs.Int("uses", 1, "how many sidecars it admits (at most 1000)")
	out := fs.String("o", "text", "output: text (the token alone, for a file) or json")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 || *service == "" || (*out != "text" && *out != "json") {
		fmt.Fprintln(stderr, tokenUsage)
		fs.PrintDefaults()
		return errUsage
	}
	if *ttl < time.Second {
		return fmt.Errorf("--ttl: must be at least 1s; got %s", *ttl)
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	tok, err := c.CreateToken(ctx, api.TokenRequest{Service: *service, Namespace: *namespace, TTLSeconds: int64((*ttl + time.Second - 1) / time.Second), Uses: *uses})
	if err != nil {
		return err
	}
	if *out == "json" {
		return writeJSON(stdout, tok)
	}
	fmt.Fprintln(stdout, tok.Token)
	fmt.Fprintf(stderr, "token for %s, %d use(s), expires %s; shown once, the control plane keeps only its hash\n", tok.SPIFFEID, tok.Uses, tok.ExpiresAt.Format(time.RFC3339))
	return nil
}

package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/weft-mesh/weft/internal/api"
)

const caUsage = "usage: weft ca status|rotate [--finish | --cert F --key F] [-o text|json]"

// runCA shows the CA's roots and rotation, and starts or finishes a root
// rotation (an operator's act; see docs/MTLS.md).
func runCA(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "status" && args[0] != "rotate") {
		fmt.Fprintln(stderr, caUsage)
		return errUsage
	}
	verb := args[0]
	fs := newFlags("ca "+verb, stderr)
	server := serverFlag(fs)
	finish := false
	var certFile, keyFile string
	if verb == "rotate" {
		fs.BoolVar(&finish, "finish", false, "end the overlap now: drop the old root from the trust bundle (leaves it signed are refused from then on)")
		fs.StringVar(&certFile, "cert", "", "rotate to this root (PEM, one self-signed CA certificate) instead of one the control plane makes; needs --key")
		fs.StringVar(&keyFile, "key", "", "the private key of --cert (PEM); sent to the control plane over TLS and kept in its store")
	}
	out := fs.String("o", "text", "output: text or json")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 || (*out != "text" && *out != "json") {
		fmt.Fprintln(stderr, caUsage)
		fs.PrintDefaults()
		return errUsage
	}
	c, err := server.client()
	if err != nil {
		return err
	}
	var st api.CAStatus
	if verb == "rotate" {
		req := api.CARotateRequest{Finish: finish}
		if (certFile == "") != (keyFile == "") || (finish && certFile != "") {
			fmt.Fprintln(stderr, caUsage)
			return errUsage
		}
		if certFile != "" {
			cert, err := os.ReadFile(certFile)
			if err != nil {
				return fmt.Errorf("--cert: %w", err)
			}
			key, err := os.ReadFile(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			req.Cert, req.Key = string(cert), string(key)
		}
		st, err = c.RotateCA(ctx, req)
	} else {
		st, err = c.CAStatus(ctx)
	}
	if err != nil {
		return err
	}
	if *out == "json" {
		return writeJSON(stdout, st)
	}
	fmt.Fprintf(stdout, "trust domain %s, rotation phase %s", st.TrustDomain, st.Phase)
	if !st.Since.IsZero() {
		fmt.Fprintf(stdout, " since %s", st.Since.Format(time.RFC3339))
	}
	if !st.FinishAt.IsZero() {
		fmt.Fprintf(stdout, ", old root dropped at %s", st.FinishAt.Format(time.RFC3339))
	}
	fmt.Fprintln(stdout)
	for i, r := range st.Roots {
		role := "trusted"
		if i == 0 {
			role = "signing"
		}
		fmt.Fprintf(stdout, "  %-8s %s  %s  expires %s\n", role, r.Pin, r.Subject, r.NotAfter.Format(time.RFC3339))
	}
	return nil
}

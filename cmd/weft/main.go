// Command weft is the whole mesh in one binary: sidecar, control plane and CLI.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/weft-mesh/weft/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

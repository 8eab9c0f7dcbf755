//go:build !proxyonly

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/weft-mesh/weft/demo/catalog"
	"github.com/weft-mesh/weft/demo/echo"
	"github.com/weft-mesh/weft/demo/frontend"
)

// runDemoApp is `weft demo-app catalog|frontend|ratings`: one of the demo
// shop's Go apps, run from the weft binary so that the demo needs nothing
// compiled. It is an ordinary mesh-unaware app: it listens on $PORT (or
// --addr) and knows nothing of the mesh that `weft run` puts around it.
func runDemoApp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	const usage = "usage: weft demo-app catalog|frontend|ratings [--version V] [--fail-file F] [--addr A]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	kind := args[0]
	fs := newFlags("demo-app "+kind, stderr)
	version := fs.String("version", "v1", "the version the app reports")
	failFile := fs.String("fail-file", "", "catalog: answer 503 to the share of requests written in this file (0.5: half), re-read every 100ms")
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:$PORT)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *addr == "" {
		port := os.Getenv("PORT")
		if port == "" {
			return errors.New("no --addr and no $PORT to listen on")
		}
		*addr = net.JoinHostPort("127.0.0.1", port)
	}
	var h http.Handler
	stop := make(chan struct{})
	defer close(stop)
	switch kind {
	case "catalog":
		app := catalog.New(*version)
		if *failFile != "" {
			go app.WatchFailFile(*failFile, 100*time.Millisecond, stop)
		}
		h = app
	case "frontend":
		h = frontend.Handler()
	case "ratings":
		h = echo.Handler("ratings", *version)
	default:
		fmt.Fprintln(stderr, usage)
		return errUsage
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s %s (go) on %s\n", kind, *version, ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}

//go:build proxyonly

package cli

import (
	"errors"
	"log/slog"
)

// newResourceFeed: serving resources takes the control plane's translator
// and xDS server, which this build leaves out.
func newResourceFeed(string, *slog.Logger) (resourceFeed, error) {
	return nil, errors.New("--resources needs the full weft binary; this one was built with -tags proxyonly")
}

// checkResources: see newResourceFeed.
func checkResources(string) error {
	return errors.New("--resources needs the full weft binary; this one was built with -tags proxyonly")
}

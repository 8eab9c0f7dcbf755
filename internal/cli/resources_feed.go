//go:build !proxyonly

package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/weft-mesh/weft/internal/xds/local"
)

// dirFeed serves a --resources directory to the sidecar in this process
// through a control plane of one on a loopback port (xds/local). The
// sidecar's xDS client then reads it exactly as it reads `weft control`:
// the same translation, the same decoding and validation, the same ACK or
// NACK. Nothing about resources is known to the sidecar package.
type dirFeed struct {
	dir      string
	interval time.Duration
	log      *slog.Logger
	srv      *local.Server

	mu    sync.Mutex // serialises reloads
	stamp string     // the files' names, sizes and times when last read
}

// newResourceFeed reads dir and starts serving it, or refuses a bad one.
func newResourceFeed(dir string, log *slog.Logger) (resourceFeed, error) {
	return startDirFeed(dir, time.Second, log)
}

func startDirFeed(dir string, interval time.Duration, log *slog.Logger) (*dirFeed, error) {
	f := &dirFeed{dir: dir, interval: interval, log: log.With("component", "resources", "dir", dir)}
	stamp := dirStamp(dir)
	rs, err := loadResources(dir)
	if err != nil {
		return nil, err
	}
	if len(rs) == 0 {
		f.log.Warn("no resources yet: outbound requests get no route until files are added")
	}
	if f.srv, err = local.Listen("127.0.0.1:0", log); err != nil {
		return nil, err
	}
	if _, err := f.srv.Publish(rs); err != nil {
		return nil, fmt.Errorf("resources %s: %w", dir, err)
	}
	f.stamp = stamp
	return f, nil
}

func (f *dirFeed) addr() string { return f.srv.Addr() }

// reload re-reads the directory and publishes it; a bad directory is
// refused whole and the running config stays.
func (f *dirFeed) reload(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stamp = dirStamp(f.dir)
	rs, err := loadResources(f.dir)
	if err != nil {
		return fmt.Errorf("resources rejected, the running config stays:\n%w", err)
	}
	version, err := f.srv.Publish(rs)
	if err != nil {
		return fmt.Errorf("resources rejected, the running config stays: %w", err)
	}
	// The sidecar validates again and may refuse what it cannot build; say
	// so here too, where the operator looks.
	if err := f.srv.Applied(ctx, version, 5*time.Second); err != nil {
		return fmt.Errorf("resources version %s: %w", version, err)
	}
	f.log.Info("resources applied", "version", version, "resources", len(rs))
	return nil
}

// run serves until ctx ends, re-reading the directory when a file in it
// changes.
func (f *dirFeed) run(ctx context.Context) error {
	done := make(chan error, 1)
	go func() { done <- f.srv.Run(ctx) }()
	t := time.NewTicker(f.interval)
	defer t.Stop()
	// A change is read once it has held still for a tick: a file caught
	// half-written (an editor or `cp` truncates first) would otherwise be
	// read as empty, a valid config with no routes.
	var pending string
	for {
		select {
		case err := <-done:
			return err
		case <-t.C:
		}
		now := dirStamp(f.dir)
		f.mu.Lock()
		same := now == f.stamp
		f.mu.Unlock()
		if same || now != pending {
			pending = now
			continue
		}
		if err := f.reload(ctx); err != nil {
			f.log.Error("resources changed but were rejected", "err", err)
		}
	}
}

// dirStamp summarises the resource files of dir: any edit, addition or
// removal changes it.
func dirStamp(dir string) string {
	files, err := manifestFiles(dir)
	if err != nil {
		return "error: " + err.Error()
	}
	var b []byte
	for _, name := range files {
		fi, err := os.Stat(name)
		if err != nil {
			b = fmt.Appendf(b, "%s:gone;", name)
			continue
		}
		b = fmt.Appendf(b, "%s:%d:%d;", name, fi.Size(), fi.ModTime().UnixNano())
	}
	return string(b)
}

// Package meshtap is the control plane's side of `weft tap`: it opens a
// tap session on each sidecar of a service (their admin port's GET /tap)
// and merges the streams into one, with a total rate cap, a cap on taps
// at once and a time limit.
package meshtap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiserver "github.com/weft-mesh/weft/internal/api/server"
	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// Config configures a Tapper. Zero values take the defaults.
type Config struct {
	// Instances lists a service's registered instances (with their admin
	// addresses).
	Instances func(ctx context.Context, service string) ([]api.Instance, error)
	// MaxTaps caps the taps streaming at once. Default 8.
	MaxTaps int
	// ConnectTimeout bounds opening one sidecar's stream. Default 5s.
	ConnectTimeout time.Duration
	// IdleTimeout drops a sidecar's stream that sent nothing for this
	// long (they send their counters every tap.StatsInterval). Default 10s.
	IdleTimeout time.Duration
	// Client reaches the sidecars' admin ports. Default: plain HTTP.
	Client *http.Client
	Logger *slog.Logger
}

// Tapper runs taps.
type Tapper struct {
	cfg  Config
	log  *slog.Logger
	taps chan struct{}
}

// New returns a Tapper.
func New(cfg Config) *Tapper {
	if cfg.MaxTaps <= 0 {
		cfg.MaxTaps = 8
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 10 * time.Second
	}
	if cfg.Client == nil {
		d := &net.Dialer{Timeout: cfg.ConnectTimeout}
		cfg.Client = &http.Client{Transport: &http.Transport{DialContext: d.DialContext, ResponseHeaderTimeout: cfg.ConnectTimeout,
			MaxIdleConnsPerHost: 1, DisableKeepAlives: true}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Tapper{cfg: cfg, log: cfg.Logger.With("component", "meshtap"), taps: make(chan struct{}, cfg.MaxTaps)}
}

// sidecarQuery checks q's filter and limits as the sidecars will, and
// returns the query each sidecar gets.
func sidecarQuery(q api.TapQuery) (url.Values, tap.Options, error) {
	v := url.Values{}
	for k, s := range map[string]string{"direction": q.Direction, "path": q.Path, "method": q.Method, "status": q.Status} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if q.Rate != 0 {
		v.Set("rate", strconv.Itoa(q.Rate))
	}
	if q.Duration != 0 {
		v.Set("duration", q.Duration.String())
	}
	if q.Max < 0 {
		return nil, tap.Options{}, errors.New("tap parameter max: want 0 or more")
	}
	o, err := tap.ParseQuery(v)
	if err != nil {
		return nil, o, err
	}
	return o.Query(), o, nil
}

// Tap streams the service's requests to emit (called from this goroutine
// only) until the duration or max is reached or ctx ends.
func (t *Tapper) Tap(ctx context.Context, q api.TapQuery, emit func(api.TapLine) error) error {
	v, o, err := sidecarQuery(q)
	if err == nil && (q.Service == "" || strings.ContainsAny(q.Service, "/?#") || len(q.Service) > 253) {
		err = fmt.Errorf("tap parameter service %q: want a service name", q.Service)
	}
	if err != nil {
		return fmt.Errorf("%w: %w", apiserver.ErrInvalid, err)
	}
	select {
	case t.taps <- struct{}{}:
		defer func() { <-t.taps }()
	default:
		return fmt.Errorf("%w: %d taps are streaming, the most at once; retry later", apiserver.ErrBusy, cap(t.taps))
	}
	ins, err := t.cfg.Instances(ctx, q.Service)
	if err != nil {
		return err
	}
	var admins []api.Instance
	for _, in := range ins {
		if in.Admin != "" {
			admins = append(admins, in)
		}
	}
	switch {
	case len(ins) == 0:
		return fmt.Errorf("%w: service %q has no registered instances (weft get instances lists them)", apiserver.ErrNotFound, q.Service)
	case len(admins) == 0:
		return fmt.Errorf("%w: no instance of service %q has an admin listener to tap", apiserver.ErrNotFound, q.Service)
	}
	m := &merge{q: q, o: o, emit: emit, bucket: tap.NewBucket(o.Rate, time.Now()), stats: map[string]api.TapStats{}, ended: map[string]bool{}}
	return m.run(ctx, t, admins, v)
}

package controlplane

import (
	"context"

	"github.com/weft-mesh/weft/internal/api"
	"github.com/weft-mesh/weft/internal/meshtap"
)

// Tap streams live request metadata from a service's sidecars.
func (b *backend) Tap(ctx context.Context, q api.TapQuery, emit func(api.TapLine) error) error {
	return b.tap.Tap(ctx, q, emit)
}

// newTapper taps the sidecars the registry knows.
func newTapper(b *backend, cfg *Config) *meshtap.Tapper {
	return meshtap.New(meshtap.Config{Instances: b.Instances, Logger: cfg.Logger})
}

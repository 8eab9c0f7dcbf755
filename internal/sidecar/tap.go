package sidecar

import (
	"sync"

	"github.com/weft-mesh/weft/internal/telemetry/tap"
)

// tapParts are the hub both engines publish finished requests to, and
// the signal that ends the admin port's tap streams: http.Server's
// Shutdown waits for handlers, and a stream would otherwise hold it.
type tapParts struct {
	hub  tap.Hub
	stop chan struct{}
	once sync.Once
}

func newTapParts() *tapParts { return &tapParts{stop: make(chan struct{})} }

// close ends every tap stream (each sends its counters and "shutdown").
func (t *tapParts) close() { t.once.Do(func() { close(t.stop) }) }

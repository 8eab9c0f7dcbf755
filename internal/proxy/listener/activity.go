package listener

import (
	"io"
	"sync/atomic"
	"time"
)

// lastActive is the time of the last byte moved, for idle timeouts that
// cost no per-read deadline syscall.
type lastActive struct{ ns atomic.Int64 }

func (l *lastActive) touch()               { l.ns.Store(time.Now().UnixNano()) }
func (l *lastActive) since() time.Duration { return time.Duration(time.Now().UnixNano() - l.ns.Load()) }

type activityReader struct {
	r    io.Reader
	last *lastActive
}

func (a activityReader) Read(b []byte) (int, error) {
	n, err := a.r.Read(b)
	if n > 0 {
		a.last.touch()
	}
	return n, err
}

//go:build !linux

package listener

import (
	"errors"
	"net"
)

var errNoSplice = errors.New("splice: not supported on this system")

type kpipe struct{}

func newKpipe() (*kpipe, error) { return nil, errNoSplice }
func (k *kpipe) close()         {}

// readinessCopy is Linux-only; elsewhere tunnels copy through a buffer.
func readinessCopy(dst, src net.Conn, last *lastActive) (int64, bool, error) { return 0, false, nil }

package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// ErrHTTP1Only is returned by an H2Pool with ProbeHTTP2 when the endpoint
// answered the HTTP/2 connection preface as an HTTP/1 server would (a
// response, or a close): no request was sent on that connection, so the
// caller may send it again over HTTP/1.1.
var ErrHTTP1Only = errors.New("upstream: endpoint speaks HTTP/1.1 only")

// http1Memory is how long an endpoint found HTTP/1.1-only is believed so.
// Past it the next HTTP/2 request probes again, so an app redeployed with
// HTTP/2 support at the same address is noticed; a probe costs one
// short-lived connection.
const http1Memory = 30 * time.Second

// h2Magic is the client connection preface (RFC 9113 §3.4).
var h2Magic = []byte("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")

// frameSettings is the SETTINGS frame type: the first frame a server sends.
const frameSettings = 0x4

// probeHTTP2 sends the preface's magic on a fresh cleartext connection and
// reads the first frame header of the answer. An HTTP/2 server's first
// frame is SETTINGS on stream 0; an HTTP/1 server answers the magic's
// "PRI * HTTP/2.0" request line with a status line ("HTTP/1.1 505 ..."),
// or closes. The magic went out already, so the returned conn drops it
// from the transport's first writes, and replays the frame header read.
func probeHTTP2(c net.Conn, deadline time.Time) (net.Conn, error) {
	c.SetDeadline(deadline)
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write(h2Magic); err != nil {
		return nil, fmt.Errorf("h2 probe: write preface: %w", err)
	}
	var hdr [9]byte
	n, err := io.ReadFull(c, hdr[:])
	switch {
	case err == nil && hdr[3] == frameSettings && hdr[5]&0x7f == 0 && hdr[6] == 0 && hdr[7] == 0 && hdr[8] == 0:
		return &probedConn{Conn: c, replay: hdr[:], skip: len(h2Magic)}, nil
	case err == nil, n > 0, errors.Is(err, io.EOF), isReset(err):
		return nil, fmt.Errorf("h2 probe: answer starts %q: %w", hdr[:n], ErrHTTP1Only)
	}
	return nil, fmt.Errorf("h2 probe: read answer: %w", err)
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// probedConn is a connection whose first bytes in each direction were
// already exchanged by the probe.
type probedConn struct {
	net.Conn
	replay []byte // the server's first frame header, read by the probe
	skip   int    // bytes of the magic still to drop from writes
}

func (c *probedConn) Read(p []byte) (int, error) {
	if len(c.replay) > 0 {
		n := copy(p, c.replay)
		c.replay = c.replay[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

// Write drops the magic the transport sends first: the server has it.
func (c *probedConn) Write(p []byte) (int, error) {
	if c.skip == 0 {
		return c.Conn.Write(p)
	}
	k := min(c.skip, len(p))
	off := len(h2Magic) - c.skip
	if !bytes.Equal(p[:k], h2Magic[off:off+k]) {
		return 0, errors.New("h2 probe: transport did not start with the preface")
	}
	c.skip -= k
	if k == len(p) {
		return k, nil
	}
	n, err := c.Conn.Write(p[k:])
	return k + n, err
}

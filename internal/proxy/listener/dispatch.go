package listener

import (
	"errors"
	"net"
	"os"
	"sync"
	"time"
)

// dispatch picks the handler for a new connection, sniffing when needed.
// The port's declared protocol decides where bytes that are not what it
// expects go: only an Auto port ever hands them to TCP.
func (l *Listener) dispatch(c net.Conn) (Handler, net.Conn) {
	proto := l.cfg.Protocol
	if l.cfg.ProtocolOf != nil {
		p, ok := l.cfg.ProtocolOf(c)
		if !ok {
			return nil, nil
		}
		proto = p
	} else if l.cfg.ProtocolFor != nil {
		proto = l.cfg.ProtocolFor()
	}
	if mode := l.meshTLS(); mode != MeshOff {
		return l.dispatchMesh(c, proto, mode)
	}
	if proto == TCP {
		return l.cfg.TCP, c
	}
	k, pc := l.sniff(c, proto)
	if k == kindTLS && l.cfg.TLS != nil {
		return l.terminate(pc)
	}
	return l.route(k, proto, c, pc)
}

// route hands a sniffed connection to its handler by what it speaks and
// the port's declared protocol; nil closes it.
func (l *Listener) route(k kind, proto Protocol, c, pc net.Conn) (Handler, net.Conn) {
	switch k {
	case kindUnknown:
		return nil, nil
	case kindHTTP1:
		return l.cfg.HTTP1, pc
	case kindHTTP2, kindBadPreface:
		return l.cfg.HTTP2, pc
	}
	switch proto {
	case HTTP1:
		return l.cfg.HTTP1, pc // refused there with a 400
	case HTTP2:
		return l.cfg.HTTP2, pc // an invalid preface: a connection error
	}
	l.cfg.Metrics.SniffFallback(l.cfg.Name)
	if l.cfg.TCP == nil {
		l.log.Debug("closing connection of unknown protocol", "remote", c.RemoteAddr())
		return nil, nil
	}
	return l.cfg.TCP, pc
}

// sniff reads a connection's first bytes and returns what they are with a
// conn that replays them; kindUnknown means close it. Until its first byte
// a client is idle (IdleTimeout), then it has HeaderTimeout to show what it
// speaks: the bounds of a keep-alive connection between requests, so
// neither silence nor slowness is a way around the HTTP checks.
func (l *Listener) sniff(c net.Conn, proto Protocol) (kind, net.Conn) {
	buf := make([]byte, sniffLen)
	serverFirst := proto == Auto && l.cfg.ServerFirst
	wait := l.cfg.IdleTimeout
	if serverFirst {
		wait = l.cfg.SniffTimeout
	}
	if !l.waiting.add(c) {
		return kindUnknown, nil // shutting down
	}
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := readSome(c, buf)
	l.waiting.remove(c)
	if n == 0 {
		c.SetReadDeadline(time.Time{})
		if serverFirst && isTimeout(err) {
			// Server-speaks-first (MySQL, SMTP...): the client waits for a
			// banner, and this port declared that it may.
			return kindTCP, c
		}
		return kindUnknown, nil
	}
	c.SetReadDeadline(time.Now().Add(l.cfg.HeaderTimeout))
	k := classify(buf[:n])
	for k == kindUnknown && err == nil && n < len(buf) {
		var m int
		m, err = c.Read(buf[n:])
		n += m
		k = classify(buf[:n])
	}
	c.SetReadDeadline(time.Time{})
	pc := &peekConn{Conn: c, buf: buf[:n]}
	if k == kindUnknown {
		// The head timeout passed, or the client stopped, mid-detection:
		// what arrived can only be the start of an HTTP request (classify
		// decides anything else at once). Its handler gets the bytes and
		// then the same error, and answers it as any slow or cut head.
		k = kindHTTP1
		if isBadPreface(buf[:n]) {
			k = kindBadPreface
		}
		if isTimeout(err) {
			pc.err = err
		}
	}
	return k, pc
}

// readSome reads until at least one byte or an error.
func readSome(c net.Conn, buf []byte) (int, error) {
	for {
		n, err := c.Read(buf)
		if n > 0 || err != nil {
			return n, err
		}
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// waiters are the connections waiting for their first byte: Shutdown
// closes them at once, as HTTP engines close idle keep-alives.
type waiters struct {
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func (w *waiters) add(c net.Conn) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	if w.conns == nil {
		w.conns = map[net.Conn]struct{}{}
	}
	w.conns[c] = struct{}{}
	return true
}

func (w *waiters) remove(c net.Conn) {
	w.mu.Lock()
	delete(w.conns, c)
	w.mu.Unlock()
}

func (w *waiters) closeAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.closed = true
	for c := range w.conns {
		c.Close()
	}
}

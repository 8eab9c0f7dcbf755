package controlplane

import (
	"net"
	"sync"
)

// DefaultMaxConnsPerIP caps one peer address's open connections to each
// of the control plane's ports.
const DefaultMaxConnsPerIP = 1024

// perIPListener closes, right after accept, a connection from an address
// that already holds max: one host cannot take every file descriptor.
type perIPListener struct {
	net.Listener
	max int

	mu    sync.Mutex
	count map[string]int
}

func limitPerIP(l net.Listener, max int) net.Listener {
	return &perIPListener{Listener: l, max: max, count: map[string]int{}}
}

func (l *perIPListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		ip := hostOf(c.RemoteAddr())
		l.mu.Lock()
		if l.count[ip] >= l.max {
			l.mu.Unlock()
			c.Close()
			continue
		}
		l.count[ip]++
		l.mu.Unlock()
		return &countedConn{Conn: c, l: l, ip: ip}, nil
	}
}

func (l *perIPListener) release(ip string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.count[ip] <= 1 {
		delete(l.count, ip)
		return
	}
	l.count[ip]--
}

func hostOf(a net.Addr) string {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.IP.String()
	}
	h, _, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	return h
}

type countedConn struct {
	net.Conn
	l    *perIPListener
	ip   string
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.release(c.ip) })
	return c.Conn.Close()
}

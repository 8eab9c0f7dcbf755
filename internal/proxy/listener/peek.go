package listener

import "net"

// peekConn replays the bytes read while sniffing before reading on.
// After them it returns err, when set: the timeout that ended sniffing,
// so the handler sees the deadline the client missed.
type peekConn struct {
	net.Conn
	buf []byte
	err error
}

func (p *peekConn) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.Conn.Read(b)
}

// CloseWrite half-closes when the underlying connection can, so TCP
// passthrough propagates FIN.
func (p *peekConn) CloseWrite() error {
	if cw, ok := p.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Unwrap returns the connection underneath and the replay bytes still
// pending, so a TCP proxy can forward those and then splice the raw socket.
func (p *peekConn) Unwrap() (net.Conn, []byte) { return p.Conn, p.buf }

package listener

import (
	"context"
	"crypto/tls"
	"net"
)

// MeshTLS is what an inbound port that terminates mesh mTLS does with a
// connection that does not start with a TLS ClientHello.
type MeshTLS uint8

const (
	// MeshOff: the port is not a mesh mTLS port (Config.TLS, when set,
	// terminates TLS the classic way and routes by ALPN alone).
	MeshOff MeshTLS = iota
	// MeshStrict refuses plaintext: only peers that complete the mTLS
	// handshake (Config.TLS verifies their certificate) get through.
	MeshStrict
	// MeshPermissive accepts mTLS and plaintext alike, and reports each
	// plaintext connection (Config.OnPlaintext), so a team can see who
	// still arrives without mTLS before switching to strict.
	MeshPermissive
)

// meshTLS is the port's mode for this connection.
func (l *Listener) meshTLS() MeshTLS {
	if l.cfg.TLS == nil || l.cfg.MeshMode == nil {
		return MeshOff
	}
	return l.cfg.MeshMode()
}

// dispatchMesh is dispatch for a mesh mTLS port: TLS is terminated, and
// what it carries is dispatched by the port's protocol as plaintext would
// be (so a TCP service's tunnel and an HTTP app's requests share one
// mTLS port); plaintext is refused or, when permissive, counted and served.
func (l *Listener) dispatchMesh(c net.Conn, proto Protocol, mode MeshTLS) (Handler, net.Conn) {
	k, pc := l.sniff(c, proto)
	switch {
	case k == kindUnknown:
		return nil, nil
	case k == kindTLS:
		return l.terminateMesh(pc, proto)
	case mode == MeshStrict:
		l.cfg.Metrics.ConnRejected(l.cfg.Name)
		if l.cfg.OnPlaintext != nil {
			l.cfg.OnPlaintext(c.RemoteAddr(), false)
		}
		l.log.Debug("refusing plaintext on a strict mTLS port", "remote", c.RemoteAddr())
		return nil, nil
	}
	if l.cfg.OnPlaintext != nil {
		l.cfg.OnPlaintext(c.RemoteAddr(), true)
	}
	if proto == TCP {
		return l.cfg.TCP, pc
	}
	return l.route(k, proto, c, pc)
}

// terminateMesh completes the mTLS handshake (the peer is verified in
// Config.TLS's callbacks) and dispatches what the tunnel carries. ALPN
// decides for HTTP peers; a peer that offered none (an opaque TCP stream)
// is sniffed like a plaintext connection.
func (l *Listener) terminateMesh(c net.Conn, proto Protocol) (Handler, net.Conn) {
	tc := tls.Server(c, l.cfg.TLS)
	ctx, cancel := context.WithTimeout(context.Background(), l.cfg.HandshakeTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		l.log.Debug("mtls handshake failed", "remote", c.RemoteAddr(), "err", err)
		return nil, nil
	}
	if proto == TCP {
		return l.cfg.TCP, tc
	}
	switch tc.ConnectionState().NegotiatedProtocol {
	case "h2":
		return l.cfg.HTTP2, tc
	case "http/1.1":
		return l.cfg.HTTP1, tc
	}
	k, pc := l.sniff(tc, proto)
	if k == kindUnknown {
		return nil, nil
	}
	if k == kindTLS {
		k = kindTCP // the app's own TLS inside the mesh's: opaque bytes
	}
	return l.route(k, proto, tc, &tlsPeekConn{peekConn: pc.(*peekConn), tc: tc})
}

// tlsPeekConn is a sniffed connection inside mTLS: it replays the sniffed
// bytes and still shows the handshake's state, which proxy.PeerID reads.
type tlsPeekConn struct {
	*peekConn
	tc *tls.Conn
}

func (p *tlsPeekConn) ConnectionState() tls.ConnectionState { return p.tc.ConnectionState() }

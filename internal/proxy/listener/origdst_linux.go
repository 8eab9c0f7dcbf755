package listener

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// OriginalDst is where a connection redirected to this listener by
// iptables or nftables (REDIRECT, DNAT) was addressed before the rewrite,
// as conntrack remembers it: SO_ORIGINAL_DST for IPv4, and
// IP6T_SO_ORIGINAL_DST for IPv6. A connection that was not rewritten
// reports its own local address. c may be a sniffing wrapper: the socket
// underneath is asked.
func OriginalDst(c net.Conn) (netip.AddrPort, error) {
	c = rawConn(c)
	sc, ok := c.(syscall.Conn)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("original destination: %T is not a socket", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: %w", err)
	}
	v6 := false
	if a, ok := c.LocalAddr().(*net.TCPAddr); ok && a.IP.To4() == nil {
		v6 = true
	}
	var (
		dst  netip.AddrPort
		gerr error
	)
	cerr := rc.Control(func(fd uintptr) {
		if v6 {
			dst, gerr = originalDst6(int(fd))
			return
		}
		dst, gerr = originalDst4(int(fd))
	})
	if err := errors.Join(cerr, gerr); err != nil {
		return netip.AddrPort{}, fmt.Errorf("original destination: %w", err)
	}
	return dst, nil
}

// originalDst4 reads a struct sockaddr_in; IPv6Mreq (20 bytes) is the
// x/sys getter large enough to hold its 16.
func originalDst4(fd int) (netip.AddrPort, error) {
	m, err := unix.GetsockoptIPv6Mreq(fd, unix.SOL_IP, unix.SO_ORIGINAL_DST)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockopt SO_ORIGINAL_DST: %w", err)
	}
	// sockaddr_in: family (2), port (2, network order), addr (4).
	b := m.Multiaddr
	port := binary.BigEndian.Uint16(b[2:4])
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[4:8])), port), nil
}

// originalDst6 reads a struct sockaddr_in6 (28 bytes) through the x/sys
// getter whose struct starts with one.
func originalDst6(fd int) (netip.AddrPort, error) {
	// IP6T_SO_ORIGINAL_DST has SO_ORIGINAL_DST's number, at SOL_IPV6.
	m, err := unix.GetsockoptIPv6MTUInfo(fd, unix.SOL_IPV6, unix.SO_ORIGINAL_DST)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockopt IP6T_SO_ORIGINAL_DST: %w", err)
	}
	var p [2]byte // the port is stored in network order
	binary.NativeEndian.PutUint16(p[:], m.Addr.Port)
	return netip.AddrPortFrom(netip.AddrFrom16(m.Addr.Addr).Unmap(), binary.BigEndian.Uint16(p[:])), nil
}

// rawConn peels sniffing wrappers off c.
func rawConn(c net.Conn) net.Conn {
	for {
		u, ok := c.(interface{ Unwrap() (net.Conn, []byte) })
		if !ok {
			return c
		}
		c, _ = u.Unwrap()
	}
}

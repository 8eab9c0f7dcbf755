package client

import (
	"errors"
	"net"
	"strconv"

	"github.com/weft-mesh/weft/internal/xds/envoypb"
)

// checkAddress applies Envoy's rules to an address that was sent: one of
// its kinds is set and, for a socket address, a TCP or UDP protocol, a
// host, and a port of at most 65535.
func checkAddress(a *envoypb.Address) error {
	if a.GetAddress() == nil {
		return invalid("address", "one of socket_address, pipe, envoy_internal_address is required")
	}
	s := a.GetSocketAddress()
	if s == nil {
		return nil
	}
	switch {
	case envoypb.SocketAddress_Protocol_name[int32(s.GetProtocol())] == "":
		return invalid("socket_address.protocol", "undefined protocol %d", s.GetProtocol())
	case !nonEmpty(s.GetAddress()):
		return invalid("socket_address.address", "must not be empty")
	case s.GetPortSpecifier() == nil:
		return invalid("socket_address", "port_value or named_port is required")
	case s.GetPortValue() > 65535:
		return invalid("socket_address.port_value", "must be at most 65535")
	}
	return capped("socket_address.address", s.GetAddress(), maxName)
}

var errNoSocketAddress = errors.New("endpoint without a socket address")

// hostPort is the dial address of a ready endpoint.
func hostPort(a *envoypb.Address) (string, error) {
	s := a.GetSocketAddress()
	if s == nil {
		return "", unsupported("endpoint", "%v", errNoSocketAddress)
	}
	if _, named := s.GetPortSpecifier().(*envoypb.SocketAddress_NamedPort); named {
		// xdstest.ToProxy would dial port 0; a port name needs a resolver
		// Weft does not have.
		return "", unsupported("endpoint.address.socket_address.named_port", "named ports")
	}
	return net.JoinHostPort(s.GetAddress(), strconv.FormatUint(uint64(s.GetPortValue()), 10)), nil
}

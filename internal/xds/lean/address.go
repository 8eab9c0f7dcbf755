package lean

import (
	"errors"
	"net"
	"strconv"
)

// address is a config.core.v3.Address: a oneof of socket_address 1, pipe 2,
// envoy_internal_address 3. Weft reaches endpoints by socket address only:
// protocol 1, address 2, and the oneof port_value 3 or named_port 4.
type address struct {
	present  bool
	kind     int // socket_address 1, pipe 2, envoy_internal_address 3
	protocol int32
	host     string
	portKind int // port_value 3, named_port 4
	port     uint32
}

func (a *address) merge(b []byte) error {
	a.present = true
	return walk(b, func(f field) error {
		switch {
		case f.is(1, bytesT):
			if a.kind != 1 {
				a.protocol, a.host, a.portKind, a.port = 0, "", 0, 0
			}
			a.kind = 1
			return a.mergeSocket(f.b)
		case f.is(2, bytesT), f.is(3, bytesT):
			a.kind = int(f.num)
		}
		return nil
	})
}

func (a *address) mergeSocket(b []byte) error {
	return walk(b, func(f field) error {
		var err error
		switch {
		case f.is(1, varintT):
			a.protocol = int32(f.u)
		case f.is(2, bytesT):
			a.host, err = str(f, "socket_address.address", maxName)
		case f.is(3, varintT):
			a.portKind, a.port = 3, uint32(f.u)
		case f.is(4, bytesT):
			a.portKind = 4
			err = checkUTF8(f, "socket_address.named_port")
		case f.typ == bytesT && (f.num == 5 || f.num == 7):
			err = checkUTF8(f, "socket_address")
		}
		return err
	})
}

// check applies Envoy's rules to an address that was sent: one of its
// kinds is set and, for a socket address, a TCP or UDP protocol, a host,
// and a port of at most 65535.
func (a *address) check() error {
	if !a.present {
		return nil
	}
	switch {
	case a.kind == 0:
		return invalid("address", "one of socket_address, pipe, envoy_internal_address is required")
	case a.kind != 1:
		return nil
	case a.protocol != 0 && a.protocol != 1:
		return invalid("socket_address.protocol", "undefined protocol %d", a.protocol)
	case !nonEmpty(a.host):
		return invalid("socket_address.address", "must not be empty")
	case a.portKind == 0:
		return invalid("socket_address", "port_value or named_port is required")
	case a.portKind == 3 && a.port > 65535:
		return invalid("socket_address.port_value", "must be at most 65535")
	}
	return nil
}

var errNoSocketAddress = errors.New("endpoint without a socket address")

// hostPort is the dial address of a ready endpoint.
func (a *address) hostPort(isEndpoint bool) (string, error) {
	if !isEndpoint || a.kind != 1 {
		return "", unsupported("endpoint", "%v", errNoSocketAddress)
	}
	if a.portKind == 4 {
		// client.ToProxy would dial port 0; a port name needs a resolver
		// Weft does not have.
		return "", unsupported("endpoint.address.socket_address.named_port", "named ports")
	}
	return net.JoinHostPort(a.host, strconv.FormatUint(uint64(a.port), 10)), nil
}

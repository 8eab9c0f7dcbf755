package client

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// frameHeader is gRPC's length prefix: a compressed flag byte, then the
// message length as a 4-byte big-endian number.
const frameHeader = 5

// appendFrame appends msg to dst with its gRPC length prefix, uncompressed.
func appendFrame(dst, msg []byte) []byte {
	dst = append(dst, 0)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(msg)))
	return append(dst, msg...)
}

// readFrame reads one length-prefixed message of at most limit bytes. It
// returns io.EOF only when r ends cleanly between messages; a message cut
// short is io.ErrUnexpectedEOF. The length is checked before anything is
// allocated, so a hostile length costs nothing.
func readFrame(r io.Reader, limit int) ([]byte, error) {
	var h [frameHeader]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	switch h[0] {
	case 0:
	case 1:
		return nil, errCompressed
	default:
		return nil, fmt.Errorf("%w: compressed flag %d", errNotGRPC, h[0])
	}
	n := binary.BigEndian.Uint32(h[1:])
	if uint64(n) > uint64(limit) {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", errMessageTooLarge, n, limit)
	}
	msg := make([]byte, n)
	if _, err := io.ReadFull(r, msg); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return msg, nil
}

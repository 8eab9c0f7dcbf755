package otlp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of ExportTraceServiceResponse and ExportTracePartialSuccess.
const (
	fRespPartialSuccess = 1
	fPSRejectedSpans    = 1 // int64
	fPSErrorMessage     = 2
)

// decodePartialSuccess reads an ExportTraceServiceResponse: how many
// spans the collector rejected, and why. Unknown fields are skipped.
func decodePartialSuccess(b []byte) (rejected int64, msg string, err error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, "", protowire.ParseError(n)
		}
		b = b[n:]
		if num == fRespPartialSuccess && typ == protowire.BytesType {
			ps, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, "", protowire.ParseError(n)
			}
			b = b[n:]
			// Repeats merge, as protobuf's do.
			if rejected, msg, err = decodePSFields(ps, rejected, msg); err != nil {
				return 0, "", err
			}
			continue
		}
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return 0, "", protowire.ParseError(n)
		}
		b = b[n:]
	}
	return rejected, msg, nil
}

func decodePSFields(b []byte, rejected int64, msg string) (int64, string, error) {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return 0, "", protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case num == fPSRejectedSpans && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return 0, "", protowire.ParseError(n)
			}
			b, rejected = b[n:], int64(v)
		case num == fPSErrorMessage && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return 0, "", protowire.ParseError(n)
			}
			b, msg = b[n:], string(v)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return 0, "", protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	return max(rejected, 0), msg, nil
}

// grpcFrame appends msg as one gRPC length-prefixed message
// (uncompressed).
func grpcFrame(b, msg []byte) []byte {
	b = append(b, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	return append(b, msg...)
}

// readGRPCFrame takes the one message a unary response body holds.
func readGRPCFrame(b []byte) ([]byte, error) {
	if len(b) == 0 {
		return nil, nil // no message: an empty response
	}
	if len(b) < 5 {
		return nil, errors.New("grpc frame: short prefix")
	}
	if b[0] != 0 {
		return nil, fmt.Errorf("grpc frame: compressed flag %d, none was asked for", b[0])
	}
	n := binary.BigEndian.Uint32(b[1:5])
	if uint64(n) != uint64(len(b)-5) {
		return nil, fmt.Errorf("grpc frame: length %d, body holds %d", n, len(b)-5)
	}
	return b[5:], nil
}

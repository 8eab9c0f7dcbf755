package h1

import (
	"bufio"
	"io"
)

// MaxChunkExt caps a chunk-size line's extension bytes. Extensions are
// dropped when relaying, so there is no reason to read more (CVE-2023-39326).
const MaxChunkExt = 4 << 10

// MaxTrailerBytes caps the trailer section of a chunked body.
const MaxTrailerBytes = 16 << 10

// RelayChunked reads a chunked body from r and writes it re-encoded to w:
// data chunks as received, extensions dropped, then the trailer fields
// (validated like header fields; the ones ForbiddenTrailer or drop names
// are removed) and the final CRLF. drop may be nil. scratch is reused for
// the trailer block and returned.
func RelayChunked(w *bufio.Writer, r *bufio.Reader, scratch []byte, drop func(name []byte) bool) ([]byte, error) {
	scratch, _, err := RelayChunkedN(w, r, scratch, drop)
	return scratch, err
}

// RelayChunkedN is RelayChunked that also returns the body's size (the
// chunks' data, without framing), for the size metrics.
func RelayChunkedN(w *bufio.Writer, r *bufio.Reader, scratch []byte, drop func(name []byte) bool) ([]byte, int64, error) {
	var n int64
	for {
		size, err := readChunkSize(r)
		if err != nil {
			return scratch, n, err
		}
		if size == 0 {
			break
		}
		writeHex(w, size)
		w.WriteString("\r\n")
		n += size
		if _, err := io.CopyN(w, r, size); err != nil {
			return scratch, n, unexpected(err)
		}
		if err := expectCRLF(r); err != nil {
			return scratch, n, err
		}
		w.WriteString("\r\n")
	}
	w.WriteString("0\r\n")
	var err error
	if scratch, err = readTrailerBlock(r, scratch); err != nil {
		return scratch, n, err
	}
	if len(scratch) == 2 {
		_, err := w.Write(scratch) // no trailers: the common case
		return scratch, n, err
	}
	return scratch, n, writeTrailers(w, scratch, drop)
}

// ReadTrailers reads the trailer section that follows a chunked body's last
// chunk (for callers that read the chunks themselves) and calls each for
// every field that ForbiddenTrailer and drop let through. Syntax, size and
// count caps are those of RelayChunked. scratch is reused and returned.
func ReadTrailers(r *bufio.Reader, scratch []byte, drop func(name []byte) bool, each func(name, value []byte)) ([]byte, error) {
	scratch, err := readTrailerBlock(r, scratch)
	if err != nil || len(scratch) == 2 {
		return scratch, err
	}
	var hs [MaxTrailers]Header
	fields, err := parseFields(scratch, hs[:0], len(hs))
	if err != nil {
		return scratch, ErrBadChunk
	}
	for _, f := range fields {
		if !ForbiddenTrailer(f.Name) && (drop == nil || !drop(f.Name)) {
			each(f.Name, f.Value)
		}
	}
	return scratch, nil
}

// readTrailerBlock reads header lines up to and including the empty line
// into scratch, capped at MaxTrailerBytes.
func readTrailerBlock(r *bufio.Reader, scratch []byte) ([]byte, error) {
	scratch = scratch[:0]
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return scratch, ErrHeaderTooLarge
			}
			return scratch, ErrBadChunk
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return scratch, ErrBadChunk
		}
		if len(scratch)+len(line) > MaxTrailerBytes {
			return scratch, ErrHeaderTooLarge
		}
		scratch = append(scratch, line...)
		if len(line) == 2 {
			return scratch, nil
		}
	}
}

// readChunkSize parses "HEX[;ext]\r\n". Bare LF, a missing size, an
// oversized size or extension bytes past MaxChunkExt are errors.
func readChunkSize(r *bufio.Reader) (int64, error) {
	var n int64
	digits := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		v, ok := hexVal(c)
		if !ok {
			r.UnreadByte()
			break
		}
		if digits++; digits > 15 {
			return 0, ErrBadChunk
		}
		n = n<<4 | int64(v)
	}
	if digits == 0 {
		return 0, ErrBadChunk
	}
	if c, err := r.ReadByte(); err != nil {
		return 0, unexpected(err)
	} else if c != ';' && c != ' ' && c != '\t' && c != '\r' {
		return 0, ErrBadChunk // "1x": not a size followed by an extension
	} else {
		r.UnreadByte()
	}
	ext := 0
	for {
		c, err := r.ReadByte()
		if err != nil {
			return 0, unexpected(err)
		}
		switch {
		case c == '\r':
			if c2, err := r.ReadByte(); err != nil || c2 != '\n' {
				return 0, ErrBadChunk
			}
			return n, nil
		case c == '\n' || c == 0:
			return 0, ErrBadChunk // bare LF (CVE-2025-22871), NUL
		}
		if ext++; ext > MaxChunkExt {
			return 0, ErrBadChunk
		}
	}
}

func expectCRLF(r *bufio.Reader) error {
	a, err := r.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	b, err := r.ReadByte()
	if err != nil {
		return unexpected(err)
	}
	if a != '\r' || b != '\n' {
		return ErrBadChunk
	}
	return nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func writeHex(w *bufio.Writer, n int64) {
	var b [16]byte
	i := len(b)
	for {
		i--
		b[i] = "0123456789abcdef"[n&15]
		n >>= 4
		if n == 0 {
			break
		}
	}
	w.Write(b[i:])
}

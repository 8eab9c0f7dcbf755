package h1

import (
	"bufio"
	"io"
)

// ChunkedReader decodes a chunked body for a consumer that wants the data
// rather than a re-encoded relay (the HTTP/2 engine's HTTP/1.1 upstreams).
// It applies the same rules and caps as RelayChunked: strict chunk-size
// lines, extensions bounded by MaxChunkExt and dropped, and a trailer
// section bounded by MaxTrailerBytes and at most 32 fields.
type ChunkedReader struct {
	r       *bufio.Reader
	left    int64 // bytes left in the current chunk
	started bool  // a chunk was read, so a CRLF precedes the next size
	err     error // sticky: io.EOF after the last chunk and trailers
	trailer []byte
	fields  []Header
}

// NewChunkedReader returns a reader of the chunked body that follows on r.
func NewChunkedReader(r *bufio.Reader) *ChunkedReader {
	return &ChunkedReader{r: r}
}

// Read returns body bytes; io.EOF once the last chunk and the trailer
// section were read; ErrBadChunk, ErrHeaderTooLarge or
// io.ErrUnexpectedEOF on a broken body.
func (c *ChunkedReader) Read(p []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if c.left == 0 {
		if c.started {
			if c.err = expectCRLF(c.r); c.err != nil {
				return 0, c.err
			}
		}
		c.started = true
		size, err := readChunkSize(c.r)
		if err != nil {
			c.err = err
			return 0, err
		}
		if size == 0 {
			c.err = c.readTrailers()
			if c.err == nil {
				c.err = io.EOF
			}
			return 0, c.err
		}
		c.left = size
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if err != nil {
		c.err = unexpected(err)
		return n, c.err
	}
	return n, nil
}

// readTrailers reads the trailer section up to its empty line.
func (c *ChunkedReader) readTrailers() error {
	c.trailer = c.trailer[:0]
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			if err == bufio.ErrBufferFull {
				return ErrHeaderTooLarge
			}
			return ErrBadChunk
		}
		if len(line) < 2 || line[len(line)-2] != '\r' {
			return ErrBadChunk
		}
		if len(c.trailer)+len(line) > MaxTrailerBytes {
			return ErrHeaderTooLarge
		}
		c.trailer = append(c.trailer, line...)
		if len(line) == 2 {
			break
		}
	}
	fields, err := parseFields(c.trailer, c.fields[:0], 32)
	c.fields = fields
	if err != nil {
		return ErrBadChunk
	}
	return nil
}

// Trailers returns the trailer fields once Read has returned io.EOF; the
// slices point into the reader's buffer.
func (c *ChunkedReader) Trailers() []Header {
	if c.err != io.EOF {
		return nil
	}
	return c.fields
}

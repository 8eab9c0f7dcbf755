package h1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func relay(t *testing.T, in string, drop func([]byte) bool) (string, error) {
	t.Helper()
	var out bytes.Buffer
	bw := bufio.NewWriter(&out)
	_, err := RelayChunked(bw, bufio.NewReader(strings.NewReader(in)), nil, drop)
	bw.Flush()
	return out.String(), err
}

// Trailer fields are validated like header fields: framing, routing and
// authentication fields are dropped (RFC 9110 §6.5.1), so is what the
// caller's drop names, and the count is capped.
func TestChunkedTrailerPolicy(t *testing.T) {
	in := "1\r\na\r\n0\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\nHost: admin\r\n" +
		"Authorization: Bearer x\r\nTrailer: X-A\r\nX-Mesh-Identity: spiffe://evil\r\nGrpc-Status: 0\r\nX-Checksum: abc\r\n\r\n"
	drop := func(n []byte) bool { return EqualFold(n, "x-mesh-identity") }
	out, err := relay(t, in, drop)
	if err != nil {
		t.Fatal(err)
	}
	want := "1\r\na\r\n0\r\nGrpc-Status: 0\r\nX-Checksum: abc\r\n\r\n"
	if out != want {
		t.Fatalf("relayed %q, want %q", out, want)
	}
	req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n" + out)))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(req.Body)
	if req.Trailer.Get("Grpc-Status") != "0" || len(req.Trailer) != 2 {
		t.Fatalf("net/http read trailers %v", req.Trailer)
	}

	var many strings.Builder
	many.WriteString("0\r\n")
	for i := 0; i <= MaxTrailers; i++ {
		fmt.Fprintf(&many, "X-T%d: v\r\n", i)
	}
	many.WriteString("\r\n")
	for name, bad := range map[string]string{
		"too many":    many.String(),
		"NUL value":   "0\r\nX-A: a\x00b\r\n\r\n",
		"space name":  "0\r\nX A: 1\r\n\r\n",
		"obs-fold":    "0\r\nX-A: 1\r\n folded\r\n\r\n",
		"over 16 KiB": "0\r\nX-A: " + strings.Repeat("a", MaxTrailerBytes) + "\r\n\r\n",
	} {
		if _, err := relay(t, bad, nil); err == nil {
			t.Errorf("%s: accepted", name)
		} else if !errors.Is(err, ErrBadChunk) && !errors.Is(err, ErrHeaderTooLarge) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

package h1

import (
	"bufio"
	"bytes"
	"io"
	"strings"
	"testing"
)

func TestChunkedReader(t *testing.T) {
	in := "3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: v\r\n\r\nNEXT"
	br := bufio.NewReader(strings.NewReader(in))
	cr := NewChunkedReader(br)
	b, err := io.ReadAll(cr)
	if err != nil || string(b) != "abcde" {
		t.Fatalf("got %q, %v", b, err)
	}
	if tr := cr.Trailers(); len(tr) != 1 || string(tr[0].Name) != "X-T" || string(tr[0].Value) != "v" {
		t.Fatalf("trailers %q", tr)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "NEXT" {
		t.Fatalf("read past the body: rest %q", rest)
	}
	for _, bad := range []string{"3\r\nabcX\r\n0\r\n\r\n", "3\nabc\r\n0\r\n\r\n", "zz\r\n", "3\r\nab", "0\r\nX-T: v\n\r\n", "0\r\n" + strings.Repeat("X-T: v\r\n", 3000) + "\r\n"} {
		if _, err := io.ReadAll(NewChunkedReader(bufio.NewReader(strings.NewReader(bad)))); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzChunkedReader: the decoder accepts exactly what RelayChunked relays,
// and yields the same data.
func FuzzChunkedReader(f *testing.F) {
	f.Add([]byte("3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("1;ext\r\na\r\n0\r\nA: b\r\n\r\n"))
	f.Add([]byte("0\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		got, err := io.ReadAll(NewChunkedReader(bufio.NewReader(bytes.NewReader(in))))
		var relayed bytes.Buffer
		w := bufio.NewWriter(&relayed)
		_, rerr := RelayChunked(w, bufio.NewReader(bytes.NewReader(in)), nil, nil)
		w.Flush()
		if (err == nil) != (rerr == nil) {
			t.Fatalf("decoder err %v, relay err %v", err, rerr)
		}
		if err != nil {
			return
		}
		back, derr := io.ReadAll(NewChunkedReader(bufio.NewReader(&relayed)))
		if derr != nil || !bytes.Equal(back, got) {
			t.Fatalf("relay re-decoded to %q (%v), decoder gave %q", back, derr, got)
		}
	})
}

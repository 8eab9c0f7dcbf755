package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestReadFrame(t *testing.T) {
	t.Parallel()
	hdr := func(flag byte, n uint32) []byte {
		return []byte{flag, byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}
	}
	tests := []struct {
		name    string
		in      []byte
		limit   int
		want    []byte
		wantErr error
	}{
		{"message", appendFrame(nil, []byte("hello")), 16, []byte("hello"), nil},
		{"empty message", appendFrame(nil, nil), 16, []byte{}, nil},
		{"at the limit", appendFrame(nil, make([]byte, 16)), 16, make([]byte, 16), nil},
		{"over the limit", appendFrame(nil, make([]byte, 17)), 16, nil, errMessageTooLarge},
		{"hostile length", hdr(0, 1<<32-1), 16, nil, errMessageTooLarge},
		{"compressed", append(hdr(1, 1), 'x'), 16, nil, errCompressed},
		{"bad flag", append(hdr(7, 1), 'x'), 16, nil, errNotGRPC},
		{"clean end", nil, 16, nil, io.EOF},
		{"cut header", hdr(0, 1)[:3], 16, nil, io.ErrUnexpectedEOF},
		{"cut payload", append(hdr(0, 4), 'a', 'b'), 16, nil, io.ErrUnexpectedEOF},
		{"payload missing", hdr(0, 4), 16, nil, io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := readFrame(bytes.NewReader(tt.in), tt.limit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// Two frames back to back read as two messages, then a clean end.
func TestReadFrameSequence(t *testing.T) {
	t.Parallel()
	r := bytes.NewReader(appendFrame(appendFrame(nil, []byte("a")), []byte("bc")))
	for _, want := range []string{"a", "bc"} {
		got, err := readFrame(r, 8)
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if _, err := readFrame(r, 8); err != io.EOF {
		t.Fatalf("after the last frame: %v, want io.EOF", err)
	}
}

func TestStreamStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		h        http.Header
		wantNil  bool
		wantErr  error
		wantCode int
		wantMsg  string
	}{
		{"no status", http.Header{}, true, nil, 0, ""},
		{"ok", http.Header{"Grpc-Status": {"0"}}, false, errStreamOK, 0, ""},
		{"unavailable", http.Header{"Grpc-Status": {"14"}, "Grpc-Message": {"draining"}}, false, nil, 14, "draining"},
		{"percent-encoded", http.Header{"Grpc-Status": {"8"}, "Grpc-Message": {"100%25 full: %C3%BC"}}, false, nil, 8, "100% full: ü"},
		{"stray percent", http.Header{"Grpc-Status": {"3"}, "Grpc-Message": {"50% %zz %4"}}, false, nil, 3, "50% %zz %4"},
		{"invalid utf-8", http.Header{"Grpc-Status": {"3"}, "Grpc-Message": {"a%FFb"}}, false, nil, 3, "a\uFFFDb"},
		{"malformed", http.Header{"Grpc-Status": {"x1"}}, false, nil, codeUnknown, `malformed grpc-status "x1"`},
		{"negative", http.Header{"Grpc-Status": {"-1"}}, false, nil, codeUnknown, `malformed grpc-status "-1"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := streamStatus(tt.h)
			switch {
			case tt.wantNil:
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				return
			}
			var se *statusError
			if !errors.As(err, &se) || se.code != tt.wantCode || se.message != tt.wantMsg {
				t.Fatalf("got %#v, want code %d message %q", err, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

// FuzzReadFrame: whatever the server sends, a frame reader returns a
// message within the limit or an error of a known kind, and never
// allocates for a length it has not checked.
func FuzzReadFrame(f *testing.F) {
	f.Add(appendFrame(nil, []byte("hello")))
	f.Add(appendFrame(appendFrame(nil, nil), []byte{1, 2, 3}))
	f.Add([]byte{0, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{1, 0, 0, 0, 1, 'x'})
	f.Add([]byte{0, 0, 0})
	const limit = 1 << 10
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		for {
			msg, err := measured(t, in, func() ([]byte, error) { return readFrame(r, limit) })
			if err != nil {
				if err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, errMessageTooLarge) &&
					!errors.Is(err, errCompressed) && !errors.Is(err, errNotGRPC) {
					t.Fatalf("error of no known kind: %v", err)
				}
				return
			}
			if len(msg) > limit {
				t.Fatalf("message of %d bytes passed the limit %d", len(msg), limit)
			}
		}
	})
}

// FuzzPercentDecode: what a server percent-encodes as gRPC specifies
// decodes back to itself, made valid UTF-8, and any input gives valid
// UTF-8, safe to log.
func FuzzPercentDecode(f *testing.F) {
	for _, s := range []string{"", "plain", "100%", "ü", "%", "%4", "%zz", "\xff", "a\r\nb"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got := percentDecode(s); !utf8.ValidString(got) {
			t.Fatalf("percentDecode(%q) = %q, not UTF-8", s, got)
		}
		if got, want := percentDecode(percentEncode(s)), strings.ToValidUTF8(s, "\uFFFD"); got != want {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

// percentEncode is grpc-message's encoding, as a server applies it: bytes
// outside printable ASCII, and '%', become %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < ' ' || c > '~' || c == '%' {
			fmt.Fprintf(&b, "%%%02X", c)
		} else {
			b.WriteByte(c)
		}
	}
	return b.String()
}

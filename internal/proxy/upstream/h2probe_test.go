package upstream

import (
	"bytes"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// probeAgainst runs probeHTTP2 against a server that reads the magic and
// answers with answer, then closes.
func probeAgainst(t *testing.T, answer []byte) (net.Conn, error) {
	t.Helper()
	cli, srv := net.Pipe()
	go func() {
		defer srv.Close()
		buf := make([]byte, len(h2Magic))
		if _, err := io.ReadFull(srv, buf); err != nil {
			return
		}
		srv.Write(answer)
	}()
	t.Cleanup(func() { cli.Close() })
	return probeHTTP2(cli, time.Now().Add(2*time.Second))
}

func TestProbeHTTP2(t *testing.T) {
	settings := []byte{0, 0, 6, frameSettings, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 100}
	for _, tc := range []struct {
		name   string
		answer []byte
		h2     bool
	}{
		{"settings", settings, true},
		{"http1 status line", []byte("HTTP/1.1 505 HTTP Version Not Supported\r\n\r\n"), false},
		{"close", nil, false},
		{"settings on a stream", []byte{0, 0, 0, frameSettings, 0, 0, 0, 0, 1}, false},
		{"short", []byte{0, 0}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := probeAgainst(t, tc.answer)
			if tc.h2 {
				if err != nil {
					t.Fatal(err)
				}
				// The frame header is replayed for the transport.
				got := make([]byte, len(settings))
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, settings) {
					t.Fatalf("replay %x %v", got, err)
				}
				return
			}
			if !errors.Is(err, ErrHTTP1Only) {
				t.Fatalf("got %v, want ErrHTTP1Only", err)
			}
		})
	}
}

// TestProbedConnDropsMagic: the magic the transport writes, in any split,
// is not sent twice; what follows it is.
func TestProbedConnDropsMagic(t *testing.T) {
	cli, srv := net.Pipe()
	defer srv.Close()
	pc := &probedConn{Conn: cli, skip: len(h2Magic)}
	got := make(chan []byte, 1)
	go func() { b, _ := io.ReadAll(srv); got <- b }()
	if n, err := pc.Write(h2Magic[:5]); n != 5 || err != nil {
		t.Fatalf("first part: %d %v", n, err)
	}
	rest := append(append([]byte{}, h2Magic[5:]...), "frames"...)
	if n, err := pc.Write(rest); n != len(rest) || err != nil {
		t.Fatalf("rest: %d %v", n, err)
	}
	cli.Close()
	if b := <-got; string(b) != "frames" {
		t.Fatalf("server got %q", b)
	}
	if _, err := (&probedConn{Conn: cli, skip: len(h2Magic)}).Write([]byte("GET /")); err == nil {
		t.Fatal("a write that is not the preface was accepted")
	}
}

// FuzzProbeHTTP2: whatever a server answers, the probe decides without
// panicking, and calls HTTP/2 only a SETTINGS frame header on stream 0.
func FuzzProbeHTTP2(f *testing.F) {
	f.Add([]byte{0, 0, 0, frameSettings, 0, 0, 0, 0, 0})
	f.Add([]byte("HTTP/1.1 400 Bad Request\r\n\r\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, answer []byte) {
		c, err := probeAgainst(t, answer)
		if err == nil {
			if len(answer) < 9 || answer[3] != frameSettings {
				t.Fatalf("HTTP/2 from %x", answer)
			}
			c.Close()
		}
	})
}

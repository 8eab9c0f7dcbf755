package listener

import (
	"bufio"
	"net"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestProtocolOfPerConnection: the hook sees each connection before any
// byte is read, its answer picks the handler, and false closes the
// connection; Pick gets the connection too.
func TestProtocolOfPerConnection(t *testing.T) {
	up := startEchoUpstream(t)
	var (
		next   atomic.Uint32
		refuse atomic.Bool
		picked atomic.Bool
	)
	tcp := NewTCPProxy(TCPConfig{Name: "t", Pick: func(c net.Conn) (string, func(Outcome), error) {
		picked.Store(c != nil)
		return up, nil, nil
	}})
	h1, h2 := &tagHandler{tag: "h1"}, &tagHandler{tag: "h2"}
	l := startListener(t, Config{Name: "t", HTTP1: h1, HTTP2: h2, TCP: tcp,
		ProtocolFor: func() Protocol { t.Error("ProtocolFor asked while ProtocolOf is set"); return Auto },
		ProtocolOf: func(c net.Conn) (Protocol, bool) {
			if c.RemoteAddr() == nil {
				t.Error("no connection given")
			}
			return Protocol(next.Load()), !refuse.Load()
		}})
	roundTrip := func(send string) (string, error) {
		c, err := net.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		c.Write([]byte(send))
		return bufio.NewReader(c).ReadString('\n')
	}
	next.Store(uint32(HTTP1))
	if got, err := roundTrip("GET / HTTP/1.1\r\n\r\n"); got != "h1:GET \n" {
		t.Fatalf("HTTP1: %q %v", got, err)
	}
	next.Store(uint32(TCP))
	if got, err := roundTrip("GET / HTTP/1.1\r\n\r\n"); got != "GET / HTTP/1.1\r\n" || !picked.Load() {
		t.Fatalf("TCP (echoed): %q %v, picked %v", got, err, picked.Load())
	}
	refuse.Store(true)
	if got, err := roundTrip("GET / HTTP/1.1\r\n\r\n"); err == nil {
		t.Fatalf("refused connection answered %q", got)
	}
}

// TestOriginalDstUnredirected: a connection no NAT rule rewrote reports
// its own local address (conntrack tracks it), or an error where
// conntrack is not loaded; never some other address.
func TestOriginalDstUnredirected(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := OriginalDst(&net.UDPConn{}); err == nil {
		t.Fatal("a socket that is not TCP gave an original destination")
	}
	dst, err := OriginalDst(Replay(s, []byte("x")))
	if runtime.GOOS != "linux" {
		if err == nil {
			t.Fatal("OriginalDst succeeded off Linux")
		}
		return
	}
	if err != nil {
		if !strings.Contains(err.Error(), "SO_ORIGINAL_DST") {
			t.Fatalf("error does not name the socket option: %v", err)
		}
		t.Logf("no conntrack entry (nf_conntrack not loaded): %v", err)
		return
	}
	if want := netip.MustParseAddrPort(ln.Addr().String()); dst != want {
		t.Fatalf("original destination %v, want the listener's own %v", dst, want)
	}
}

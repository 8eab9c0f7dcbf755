package sidecar

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Issue 7 finding 6: a client that connects and sends its request 300 ms
// later (pre-connecting, pooling) is served through the HTTP path on the
// proxy port and on an outbound service port, and a tcp service's port
// forwards bytes. The app echoes X-Forwarded-For, which only the HTTP
// path sets: a raw tunnel would not.
func TestRequestAfterQuietConnect(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("xff=" + r.Header.Get("X-Forwarded-For")))
	}))
	defer app.Close()
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	cfg := &Config{
		Node: "n1", Service: "web", Admin: "off",
		Outbound: Outbound{Proxy: "127.0.0.1:0", Ports: []OutboundPort{
			{Listen: "127.0.0.1:0", Service: "app"}, {Listen: "127.0.0.1:0", Service: "raw"}}},
		Services: []Service{
			{Name: "app", Endpoints: []Endpoint{{Address: app.Listener.Addr().String()}}},
			{Name: "raw", Protocol: "tcp", Endpoints: []Endpoint{{Address: echo.Addr().String()}}},
		},
		Limits: Limits{DrainTimeout: time.Second},
	}
	_, a := runSidecar(t, cfg)
	targets := []struct{ name, addr, send, want string }{
		{"proxy port", a.Proxy, "GET http://app/x HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n", "xff=127.0.0.1"},
		{"service port", a.Outbound["app"], "GET /x HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n", "xff=127.0.0.1"},
		{"tcp service port", a.Outbound["raw"], "\x00hello\n", "\x00hello\n"},
	}
	conns := make([]net.Conn, len(targets))
	for i, tt := range targets {
		c, err := net.Dial("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	time.Sleep(300 * time.Millisecond) // the input under test: silence after connecting
	for i, tt := range targets {
		c := conns[i]
		c.Write([]byte(tt.send))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		var got string
		if strings.HasPrefix(tt.send, "GET") {
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Errorf("%s: %v", tt.name, err)
				continue
			}
			b, _ := io.ReadAll(resp.Body)
			got = string(b)
		} else {
			b := make([]byte, len(tt.want))
			io.ReadFull(c, b)
			got = string(b)
		}
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
}

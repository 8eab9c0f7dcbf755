package listener

import (
	"bufio"
	"crypto/tls"
	"net"
	"sync"
	"testing"
	"time"
)

type plaintextLog struct {
	mu     sync.Mutex
	served []bool
}

func (p *plaintextLog) add(_ net.Addr, served bool) {
	p.mu.Lock()
	p.served = append(p.served, served)
	p.mu.Unlock()
}

func (p *plaintextLog) get() []bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]bool(nil), p.served...)
}

func roundTrip(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	c.Write([]byte(msg))
	got, _ := bufio.NewReader(c).ReadString('\n')
	return got
}

func TestMeshStrictAndPermissive(t *testing.T) {
	cert := selfSigned(t)
	for _, mode := range []MeshTLS{MeshStrict, MeshPermissive} {
		t.Run(map[MeshTLS]string{MeshStrict: "strict", MeshPermissive: "permissive"}[mode], func(t *testing.T) {
			var log plaintextLog
			h1, h2, tcp := &tagHandler{tag: "h1"}, &tagHandler{tag: "h2"}, &tagHandler{tag: "tcp"}
			l := startListener(t, Config{Name: "t", HTTP1: h1, HTTP2: h2, TCP: tcp,
				TLS:      &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
				MeshMode: func() MeshTLS { return mode }, OnPlaintext: log.add})
			// TLS with no ALPN: what it carries is sniffed, here opaque bytes.
			tc, err := tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(t, tc, "\x00\x01\x02\x03"); got != "tcp:\x00\x01\x02\x03\n" {
				t.Errorf("opaque bytes in TLS went to %q", got)
			}
			tc.Close()
			// TLS carrying HTTP/1 with no ALPN.
			tc, err = tls.DialWithDialer(&net.Dialer{Timeout: 3 * time.Second}, "tcp", l.Addr().String(), &tls.Config{InsecureSkipVerify: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := roundTrip(t, tc, "GET / HTTP/1.1\r\n\r\n"); got != "h1:GET \n" {
				t.Errorf("HTTP/1 in TLS went to %q", got)
			}
			tc.Close()
			// Plaintext.
			c, err := net.DialTimeout("tcp", l.Addr().String(), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			got := roundTrip(t, c, "GET / HTTP/1.1\r\n\r\n")
			c.Close()
			want := ""
			if mode == MeshPermissive {
				want = "h1:GET \n"
			}
			if got != want {
				t.Errorf("plaintext answered %q, want %q", got, want)
			}
			if p := log.get(); len(p) != 1 || p[0] != (mode == MeshPermissive) {
				t.Errorf("plaintext reports %v", p)
			}
		})
	}
}

package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// RELIABILITY row 16 and issue 7's "Done when": 2,000 slow-header
// connections beside 5,000 idle keep-alives. Each slow connection is closed
// at the header timeout, and /ready and fresh requests keep answering.
func TestSlowlorisAndIdleKeepAlives(t *testing.T) {
	slowloris(t, 30*time.Second, "G")
}

// The same attack from clients that open with an empty line (RFC 9112
// §2.2 lets a server ignore it), closed at the header timeout, or send
// nothing at all, closed at the idle timeout: on an HTTP port a silent
// client is an idle connection, never a tunnel to the app.
func TestSlowlorisVariantsAndIdleKeepAlives(t *testing.T) {
	slowloris(t, 3*time.Second, "\r\n", "")
}

// slowloris opens 5,000 idle keep-alives, then 2,000 slow connections,
// the i-th sending firsts[i%len(firsts)] and nothing more. A client that
// sent a byte is closed at the header timeout, a silent one at idleTimeout.
func slowloris(t *testing.T, idleTimeout time.Duration, firsts ...string) {
	const (
		slow, idle    = 2000, 5000
		headerTimeout = 2 * time.Second
		// slack covers the sniff wait for a lone first byte (200ms), the
		// sweeper's period (headerTimeout/4) and a loaded 2-core machine.
		slack = 2 * time.Second
	)
	app := startHTTPApp(t)
	admin, appPort := freePort(t), freePort(t)
	p, _ := startSidecar(t, "slowloris", admin, fmt.Sprintf(`node: sl-1
admin: %s
outbound:
  ports:
    - {listen: %s, service: app}
upstream: {address: %s}
limits:
  headerTimeout: %s
  idleTimeout: %s
  drainTimeout: 1s
`, admin, appPort, app, headerTimeout, idleTimeout))
	pid := p.cmd.Process.Pid

	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	keep := func(c net.Conn) {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
	}
	start := time.Now()
	// Idle keep-alives: one request each, then silence.
	work := make(chan struct{}, idle)
	for range idle {
		work <- struct{}{}
	}
	close(work)
	var wg sync.WaitGroup
	errc := make(chan error, 64)
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				c, err := net.DialTimeout("tcp", appPort, 2*time.Second)
				if err != nil {
					errc <- err
					return
				}
				keep(c)
				c.SetDeadline(time.Now().Add(5 * time.Second))
				fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: app\r\n\r\n")
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					errc <- err
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				c.SetDeadline(time.Time{})
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatalf("idle keep-alive setup: %v", err)
	}

	// Slow clients: each is closed by the sidecar, at the header timeout.
	type closed struct{ after, want time.Duration }
	closedAfter := make(chan closed, slow)
	setup := time.Now()
	for i := range slow {
		first := firsts[i%len(firsts)]
		c, err := net.DialTimeout("tcp", appPort, 2*time.Second)
		if err != nil {
			t.Fatalf("slow dial: %v", err)
		}
		keep(c)
		sent := time.Now()
		want := idleTimeout
		if first != "" {
			c.Write([]byte(first))
			want = headerTimeout
		}
		go func() {
			c.SetReadDeadline(sent.Add(want + 4*time.Second))
			_, err := io.Copy(io.Discard, c)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				closedAfter <- closed{-1, want}
				return
			}
			closedAfter <- closed{time.Since(sent), want}
		}()
	}
	rss, hwm := procMem(t, pid)
	fds, _ := procFDs(t, pid)
	t.Logf("%d idle keep-alives and %d slow clients opened in %v: sidecar VmRSS %d KiB, VmHWM %d KiB, %d fds",
		idle, slow, time.Since(start), rss, hwm, fds)

	// Serving goes on while the slow clients wait.
	var worst time.Duration
	t.Logf("slow clients opened in %v", time.Since(setup))
	for got := 0; got < slow; {
		select {
		case c := <-closedAfter:
			got++
			d := c.after
			if d < 0 {
				t.Fatalf("a slow client was still open %v after its timeout %v", 4*time.Second, c.want)
			}
			if d < c.want-100*time.Millisecond || d > c.want+slack {
				t.Fatalf("a slow client was closed after %v, want %v (+%v)", d, c.want, slack)
			}
			worst = max(worst, d)
		case <-time.After(200 * time.Millisecond):
			start := time.Now()
			if err := readyWithin(admin, time.Second); err != nil {
				t.Fatalf("/ready during the attack: %v", err)
			}
			if code, body := getWithin(t, "http://"+appPort+"/", time.Second); code != 200 || body != "app" {
				t.Fatalf("request during the attack: %d %q", code, body)
			}
			t.Logf("/ready and a request answered in %v", time.Since(start))
		}
	}
	rss, hwm = procMem(t, pid)
	t.Logf("slow clients closed by %v; sidecar VmRSS %d KiB, VmHWM %d KiB", worst, rss, hwm)
	if hwm > 400<<10 {
		t.Fatalf("sidecar peaked at %d KiB", hwm)
	}
	if code, _ := getWithin(t, "http://"+appPort+"/", time.Second); code != 200 {
		t.Fatalf("request after the attack: %d", code)
	}
}

package e2e

import (
	"net/http"
	"sync"
	"testing"
)

// backToBack is n clients sending GET url through a sidecar's proxy
// listener back to back until stopped; every odd client opens a fresh
// connection per request, so handshakes happen under load too.
type backToBack struct {
	mu       sync.Mutex
	ok, fail int
	firstErr error
	stop     chan struct{}
	once     sync.Once
	wg       sync.WaitGroup
}

func startBackToBack(t *testing.T, proxy, url string, n int) *backToBack {
	t.Helper()
	l := &backToBack{stop: make(chan struct{})}
	for i := range n {
		cl := proxyClient(t, proxy)
		if i%2 == 1 {
			cl.Transport.(*http.Transport).DisableKeepAlives = true
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				_, _, err := get(cl, url, nil)
				l.mu.Lock()
				if err != nil {
					l.fail++
					if l.firstErr == nil {
						l.firstErr = err
					}
				} else {
					l.ok++
				}
				l.mu.Unlock()
			}
		}()
	}
	t.Cleanup(func() { l.halt() })
	return l
}

// counts are the answered and failed requests so far, and the first error.
func (l *backToBack) counts() (ok, failed int, first error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.ok, l.fail, l.firstErr
}

// halt stops the clients and waits for them; the counts are then final.
func (l *backToBack) halt() (ok, failed int, first error) {
	l.once.Do(func() { close(l.stop) })
	l.wg.Wait()
	return l.counts()
}

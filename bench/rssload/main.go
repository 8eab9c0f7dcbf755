// Command rssload is the upstream and the client of bench/sidecar-rss.sh:
// with -serve it answers every request with a short body; otherwise it
// sends -n requests over -c keep-alive connections, through -proxy when
// set (the sidecar's outbound HTTP proxy), and fails on any non-200.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	serve := flag.String("serve", "", "listen address: run as the upstream")
	target := flag.String("url", "", "URL to request")
	proxy := flag.String("proxy", "", "HTTP proxy address (host:port), optional")
	n := flag.Int("n", 20000, "requests")
	c := flag.Int("c", 4, "connections")
	flag.Parse()
	if *serve != "" {
		srv := &http.Server{Addr: *serve, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok\n")
		})}
		fmt.Fprintln(os.Stderr, srv.ListenAndServe())
		os.Exit(1)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: *c}
	if *proxy != "" {
		tr.Proxy = http.ProxyURL(&url.URL{Scheme: "http", Host: *proxy})
	}
	cl := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	var next, failed atomic.Int64
	var wg sync.WaitGroup
	for range *c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*n) {
				resp, err := cl.Get(*target)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if f := failed.Load(); f > 0 {
		fmt.Fprintf(os.Stderr, "rssload: %d of %d requests failed\n", f, *n)
		os.Exit(1)
	}
}

package client

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"
)

// fastKeepalive makes a dead server show within a fraction of a second;
// the defaults would take 30s, past the tests' deadlines, so these tests
// fail if keepalive does not work.
const fastKeepalive = 100 * time.Millisecond

// permitPings lets a grpc-go server take the fast keepalive; by default it
// closes the connection of a client that pings more than every 5 minutes.
var permitPings = grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: time.Millisecond, PermitWithoutStream: true})

// A server that accepts the connection and then says nothing, not even
// HTTP/2's settings, is noticed by keepalive: the wait for its headers is
// bounded too.
func TestKeepaliveEndsSilentServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
		for _, c := range held {
			c.Close()
		}
	})
	start := time.Now()
	err = streamOnce(t, Config{Servers: []string{ln.Addr().String()},
		KeepaliveInterval: fastKeepalive, KeepaliveTimeout: fastKeepalive})
	if err == nil || !strings.Contains(err.Error(), "connection lost") {
		t.Fatalf("stream ended with %v, want the connection lost to keepalive", err)
	}
	t.Logf("silent server noticed after %v", time.Since(start))
}

// A control plane that vanishes from the network mid-stream (no FIN, no
// RST: its packets just stop) is noticed by keepalive, and the client
// takes the next config over a new connection.
func TestKeepaliveEndsVanishedServer(t *testing.T) {
	t.Parallel()
	r := startReplica(t, permitPings)
	r.srv.Set(resources(t, "1", meshSnapshot(t)))
	rl := startRelay(t, r.addr)
	rec, logs := &recorder{}, &logSink{}
	run(t, Config{Node: "vanish", Servers: []string{rl.addr()}, Apply: rec.apply, Logger: logs.logger(),
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		KeepaliveInterval: fastKeepalive, KeepaliveTimeout: fastKeepalive})
	waitFor(t, "v1 applied", func() bool { return rec.last().Version == "1" })
	if n := rl.accepts.Load(); n != 1 {
		t.Fatalf("%d connections before the freeze; keepalive must not disturb a live server", n)
	}

	rl.freeze()
	frozen := time.Now()
	v2 := withInstance(t, "10.0.0.60")
	r.srv.Set(resources(t, "2", v2))
	waitFor(t, "v2 over a new connection", func() bool { return rec.last().Version == "2" })
	t.Logf("vanished server noticed and replaced after %v", time.Since(frozen))
	sameAsToProxy(t, rec.last(), v2)
	if logs.count("connection lost") == 0 {
		t.Fatalf("the stream did not end by keepalive; client log:\n%s", logs)
	}
}

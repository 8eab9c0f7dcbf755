package sidecar

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

func vhosts(names ...string) route.Config {
	var cfg route.Config
	for _, n := range names {
		short, _, _ := strings.Cut(n, ".")
		cfg.VirtualHosts = append(cfg.VirtualHosts, route.VirtualHost{Name: n, Domains: []string{short, n, short + ":80", "*.wild"}})
	}
	return cfg
}

func TestVIPsStableAndUnique(t *testing.T) {
	tab := newVIPTable()
	first := tab.update(vhosts("catalog.default", "ratings.default"))
	if len(first) != 2 {
		t.Fatalf("%d entries, want 2", len(first))
	}
	cat := first[0]
	if string(cat.host) != "catalog.default" || !vipPrefix.Contains(cat.addr) {
		t.Fatalf("catalog: host %q addr %v", cat.host, cat.addr)
	}
	if got := strings.Join(cat.names, " "); got != "catalog catalog.default" {
		t.Fatalf("catalog's hosts names %q: ports and wildcards cannot stand in a hosts file", got)
	}
	// Another sidecar (a fresh table) gives the same address; a name keeps
	// its address while others come and go.
	if again := newVIPTable().update(vhosts("ratings.default", "catalog.default")); again[0].addr != cat.addr {
		t.Fatalf("a fresh table gave catalog %v, then %v", cat.addr, again[0].addr)
	}
	var many []string
	for i := range 3000 {
		many = append(many, fmt.Sprintf("svc-%d.default", i))
	}
	later := tab.update(vhosts(append(many, "catalog.default")...))
	seen := map[netip.Addr]string{}
	for _, e := range later {
		if e.names[1] == "catalog.default" && e.addr != cat.addr {
			t.Fatalf("catalog moved from %v to %v when 3000 services arrived", cat.addr, e.addr)
		}
		b := e.addr.As4()
		if !vipPrefix.Contains(e.addr) || (b[2] == 0 && b[3] == 0) || (b[2] == 255 && b[3] == 255) {
			t.Fatalf("%s got %v", e.names[1], e.addr)
		}
		if prev, dup := seen[e.addr]; dup {
			t.Fatalf("%s and %s share %v", prev, e.names[1], e.addr)
		}
		seen[e.addr] = e.names[1]
		if got := tab.lookup(e.addr); got != e {
			t.Fatalf("lookup(%v) = %v", e.addr, got)
		}
	}
	if len(seen) != 3001 {
		t.Fatalf("%d addresses for 3001 services", len(seen))
	}
	if tab.lookup(netip.MustParseAddr("10.0.0.1")) != nil {
		t.Fatal("an address outside the table resolved")
	}
}

func TestVIPCollisionTakesNextSlot(t *testing.T) {
	// Two names whose hash picks the same slot.
	bySlot := map[netip.Addr]string{}
	var a, b string
	for i := 0; a == ""; i++ {
		n := fmt.Sprintf("s%d.default", i)
		if prev, ok := bySlot[vipSlot(n)]; ok {
			a, b = prev, n
		}
		bySlot[vipSlot(n)] = n
	}
	es := newVIPTable().update(vhosts(a, b))
	if es[0].addr == es[1].addr {
		t.Fatalf("%s and %s share %v", a, b, es[0].addr)
	}
	// The first in name order keeps the slot its hash picks; the other
	// takes the next free one.
	first, second := es[0], es[1]
	if first.addr != vipSlot(first.names[1]) || second.addr != nextVIP(first.addr) {
		t.Fatalf("%s=%v %s=%v, slot %v", first.names[1], first.addr, second.names[1], second.addr, vipSlot(a))
	}
	if got := nextVIP(netip.MustParseAddr("240.240.255.254")); got != netip.MustParseAddr("240.240.0.1") {
		t.Fatalf("nextVIP wraps to %v", got)
	}
}

func TestHostsFileWrittenInPlace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(path, []byte(strings.Repeat("# a longer old file\n", 100)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := inode(t, path)
	tab := newVIPTable()
	data := renderHosts(tab.update(vhosts("catalog.default")))
	if err := writeInPlace(path, data); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, data) {
		t.Fatalf("file holds\n%s\nwant\n%s", got, data)
	}
	if inode(t, path) != before {
		t.Fatal("the file was replaced: a bind mount of it would keep showing the old one")
	}
	e := tab.lookup(tab.update(vhosts("catalog.default"))[0].addr)
	if !strings.Contains(string(got), e.addr.String()+"\tcatalog catalog.default\n") || !strings.Contains(string(got), "127.0.0.1\tlocalhost") {
		t.Fatalf("hosts file:\n%s", got)
	}
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestCaptureConfigValidation(t *testing.T) {
	cfg := &Config{Outbound: Outbound{Capture: &Capture{Listen: "nope"}}}
	cfg.SetDefaults()
	err := cfg.Validate()
	for _, want := range []string{"outbound.capture.listen: must be host:port", "outbound.capture: needs controlPlane"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err %v, want %q", err, want)
		}
	}
}

// TestCaptureListener: routes arriving write the hosts file, and a
// connection that was not redirected (no original destination other than
// the listener itself) is closed unserved and counted.
func TestCaptureListener(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	sc, a := runSidecar(t, &Config{
		Node: "n", Admin: "127.0.0.1:0",
		Outbound:     Outbound{Capture: &Capture{Listen: "127.0.0.1:0", HostsFile: hosts}},
		ControlPlane: &ControlPlane{XDS: []string{"127.0.0.1:1"}},
	})
	if err := sc.applyDynamic(&dynamic{Version: "1", Routes: vhosts("catalog.default")}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(hosts)
	if err != nil || !strings.Contains(string(b), "catalog catalog.default") {
		t.Fatalf("hosts file (%v):\n%s", err, b)
	}
	c, err := net.Dial("tcp", a.Capture)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("GET / HTTP/1.1\r\nHost: catalog\r\n\r\n"))
	// Closed with the request unread: a FIN, or a reset when the request
	// reached the socket before the close.
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %d bytes, %v: want the connection closed", n, err)
	}
	_, metrics := get(t, "http://"+a.Admin+"/metrics")
	if !strings.Contains(metrics, `weft_proxy_capture_connections_total{outcome="loop"} 1`) &&
		!strings.Contains(metrics, `weft_proxy_capture_connections_total{outcome="no_original_dst"} 1`) {
		t.Fatalf("refusal not counted:\n%s", grepLines(metrics, "capture"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

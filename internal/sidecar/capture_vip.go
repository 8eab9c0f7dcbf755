package sidecar

import (
	"hash/fnv"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/weft-mesh/weft/internal/proxy/route"
)

// vipPrefix holds the virtual IPs of mesh services under capture:
// 240.0.0.0/4 is reserved (RFC 1112), so no real host is ever shadowed.
var vipPrefix = netip.MustParsePrefix("240.240.0.0/16")

// vipSlots is how many virtual IPs the prefix offers: 240.240.0.0 and
// 240.240.255.255 are left out.
const vipSlots = 1<<16 - 2

// vipEntry is one mesh virtual host behind a virtual IP.
type vipEntry struct {
	addr netip.Addr
	// host is the name captured connections are routed as: the virtual
	// host's own name when it is one of its domains ("catalog.default").
	host []byte
	// names resolve to addr in the app's hosts file.
	names []string
}

// vipTable gives each mesh virtual host a virtual IP. A name keeps its
// IP for as long as it exists, so an app that resolved it once keeps
// reaching it; a new name takes the slot its hash picks, or the next free
// one, so the same mesh gives the same IPs in every sidecar.
type vipTable struct {
	mu     sync.Mutex // serialises updates
	byName map[string]netip.Addr
	cur    atomic.Pointer[map[netip.Addr]*vipEntry]
}

func newVIPTable() *vipTable {
	t := &vipTable{byName: map[string]netip.Addr{}}
	empty := map[netip.Addr]*vipEntry{}
	t.cur.Store(&empty)
	return t
}

// lookup returns the virtual host behind addr, or nil.
func (t *vipTable) lookup(addr netip.Addr) *vipEntry { return (*t.cur.Load())[addr] }

// update allocates the virtual IPs of cfg's virtual hosts and returns
// the entries sorted by name. A host name claimed by two virtual hosts
// resolves to the first in name order.
func (t *vipTable) update(cfg route.Config) []*vipEntry {
	t.mu.Lock()
	defer t.mu.Unlock()
	type vh struct {
		name, host string
		names      []string
	}
	var hosts []vh
	claimed := map[string]bool{}
	vhs := slices.Clone(cfg.VirtualHosts)
	slices.SortFunc(vhs, func(a, b route.VirtualHost) int { return strings.Compare(a.Name, b.Name) })
	for _, v := range vhs {
		var names []string
		for _, d := range v.Domains {
			if hostsName(d) && !claimed[d] {
				claimed[d] = true
				names = append(names, d)
			}
		}
		if len(names) == 0 || v.Name == "" {
			continue
		}
		host := names[0]
		if slices.Contains(names, v.Name) {
			host = v.Name
		}
		hosts = append(hosts, vh{v.Name, host, names})
	}
	keep := map[string]netip.Addr{}
	used := map[netip.Addr]bool{}
	for _, h := range hosts {
		if a, ok := t.byName[h.name]; ok {
			keep[h.name], used[a] = a, true
		}
	}
	for _, h := range hosts {
		if _, ok := keep[h.name]; ok || len(used) >= vipSlots {
			continue
		}
		a := vipSlot(h.name)
		for used[a] {
			a = nextVIP(a)
		}
		keep[h.name], used[a] = a, true
	}
	t.byName = keep
	out := make([]*vipEntry, 0, len(hosts))
	m := make(map[netip.Addr]*vipEntry, len(hosts))
	for _, h := range hosts {
		a, ok := keep[h.name]
		if !ok {
			continue // the prefix is full
		}
		e := &vipEntry{addr: a, host: []byte(h.host), names: h.names}
		m[a] = e
		out = append(out, e)
	}
	t.cur.Store(&m)
	return out
}

// vipSlot is name's preferred virtual IP: FNV-1a over the slots.
func vipSlot(name string) netip.Addr {
	h := fnv.New32a()
	h.Write([]byte(name))
	return slotAddr(int(h.Sum32()%vipSlots) + 1)
}

// nextVIP is the slot after a, wrapping past the last one.
func nextVIP(a netip.Addr) netip.Addr {
	b := a.As4()
	n := int(b[2])<<8 | int(b[3])
	if n >= vipSlots {
		return slotAddr(1)
	}
	return slotAddr(n + 1)
}

func slotAddr(n int) netip.Addr {
	p := vipPrefix.Addr().As4()
	return netip.AddrFrom4([4]byte{p[0], p[1], byte(n >> 8), byte(n)})
}

// hostsName reports whether a virtual host's domain can stand in a hosts
// file: not a wildcard, no port (route domains are normalised lowercase).
func hostsName(d string) bool {
	if d == "" || strings.ContainsAny(d, "*:[] \t#") {
		return false
	}
	_, err := netip.ParseAddr(d)
	return err != nil // an IP literal is not a name to resolve
}

package cli

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// errCaptureNeedsRoot is what a user without CAP_NET_ADMIN reads.
var errCaptureNeedsRoot = errors.New("weft run --capture needs root (CAP_NET_ADMIN) to create a network namespace; run it with sudo, or use weft run without --capture: the app then gets HTTP_PROXY and per-upstream addresses")

// captureTools are the commands --capture runs, with the Debian/Ubuntu
// package that has each.
var captureTools = []struct{ cmd, pkg string }{{"ip", "iproute2"}, {"iptables", "iptables"}}

// capturePrereqs says what is missing for --capture, in the order a user
// fixes it.
func capturePrereqs() error {
	if runtime.GOOS != "linux" {
		return errors.New("weft run --capture needs Linux (network namespaces and iptables); use weft run without --capture: the app then gets HTTP_PROXY and per-upstream addresses")
	}
	if os.Geteuid() != 0 {
		return errCaptureNeedsRoot
	}
	for _, t := range captureTools {
		if _, err := exec.LookPath(t.cmd); err != nil {
			return fmt.Errorf("weft run --capture needs the %s command: install the %s package (apt-get install %s)", t.cmd, t.pkg, t.pkg)
		}
	}
	return nil
}

// capturePool holds the /30 of each captured app's veth pair.
var capturePool = netip.MustParsePrefix("10.213.0.0/16")

// captureNet is one captured app's network: a namespace, a veth pair
// between it and this one, and the iptables rule that sends all of the
// app's outbound TCP to the sidecar's capture listener. The sidecar runs
// here, in the host namespace, and REDIRECT only matches what arrives on
// the veth: its own connections are never captured, so no socket mark or
// uid exclusion is needed.
type captureNet struct {
	ns, hostIf, appIf string
	hostIP, appIP     netip.Addr
	hostsFile         string // the namespace's /etc/hosts (ip netns exec bind-mounts it)
	undo              []func() error
}

// setupCapture creates the namespace and its link for an app listening
// on appPort. On error whatever it made is removed again.
func setupCapture(appPort int) (_ *captureNet, err error) {
	var id [4]byte
	rand.Read(id[:])
	h := hex.EncodeToString(id[:])
	n := &captureNet{ns: "weft-" + h, hostIf: "wefth" + h, appIf: "wefta" + h}
	defer func() {
		if err != nil {
			n.cleanup()
		}
	}()
	// The directory and its owner file come first, so a run killed at any
	// later step is recognised and swept by the next one.
	dir := filepath.Join("/etc/netns", n.ns)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("--capture: %w", err)
	}
	n.undo = append(n.undo, func() error { return os.RemoveAll(dir) })
	if err := writeOwner(dir); err != nil {
		return nil, fmt.Errorf("--capture: %w", err)
	}
	used, err := usedIPv4()
	if err != nil {
		return nil, err
	}
	sub, err := freeSubnet(used, int(id[0])<<8|int(id[1]))
	if err != nil {
		return nil, err
	}
	n.hostIP, n.appIP = sub.Addr().Next(), sub.Addr().Next().Next()
	hostCIDR := netip.PrefixFrom(n.hostIP, 30).String()
	appCIDR := netip.PrefixFrom(n.appIP, 30).String()
	inNS := func(args ...string) []string { return append([]string{"ip", "netns", "exec", n.ns}, args...) }
	steps := []struct {
		args []string
		undo []string
	}{
		{[]string{"ip", "netns", "add", n.ns}, []string{"ip", "netns", "del", n.ns}},
		{[]string{"ip", "link", "add", n.hostIf, "type", "veth", "peer", "name", n.appIf}, []string{"ip", "link", "del", n.hostIf}},
		{[]string{"ip", "link", "set", n.appIf, "netns", n.ns}, nil},
		{[]string{"ip", "addr", "add", hostCIDR, "dev", n.hostIf}, nil},
		{[]string{"ip", "link", "set", n.hostIf, "up"}, nil},
		{inNS("ip", "link", "set", "lo", "up"), nil},
		{inNS("ip", "addr", "add", appCIDR, "dev", n.appIf), nil},
		{inNS("ip", "link", "set", n.appIf, "up"), nil},
		{inNS("ip", "route", "add", "default", "via", n.hostIP.String()), nil},
		// An app that listens on 127.0.0.1, as most do by default, is
		// reached too: the sidecar's connections to appIP:PORT are sent to
		// the namespace's loopback (which route_localnet permits).
		{inNS("sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet"), nil},
		{inNS("iptables", "-w", "5", "-t", "nat", "-A", "PREROUTING", "-i", n.appIf, "-p", "tcp", "-d", n.appIP.String(),
			"--dport", strconv.Itoa(appPort), "-j", "DNAT", "--to-destination", "127.0.0.1:"+strconv.Itoa(appPort)), nil},
	}
	for _, s := range steps {
		if err := runTool(s.args...); err != nil {
			return nil, fmt.Errorf("--capture: %w", err)
		}
		if s.undo != nil {
			u := s.undo
			n.undo = append(n.undo, func() error { return runTool(u...) })
		}
	}
	n.hostsFile = filepath.Join(dir, "hosts")
	// The sidecar fills it once the mesh's services arrive; the app starts
	// after that. It must exist before `ip netns exec` bind-mounts it.
	if err := os.WriteFile(n.hostsFile, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost\n"), 0o644); err != nil {
		return nil, fmt.Errorf("--capture: %w", err)
	}
	return n, nil
}

// redirectRule is the iptables rule that captures the app's outbound TCP.
func (n *captureNet) redirectRule(op string, port int) []string {
	return []string{"iptables", "-w", "5", "-t", "nat", op, "PREROUTING", "-i", n.hostIf, "-p", "tcp",
		"-j", "REDIRECT", "--to-ports", strconv.Itoa(port), "-m", "comment", "--comment", "weft capture " + n.ns}
}

// redirect sends every TCP connection from the app to the capture
// listener's port.
func (n *captureNet) redirect(port int) error {
	if err := runTool(n.redirectRule("-A", port)...); err != nil {
		return fmt.Errorf("--capture: %w", err)
	}
	n.undo = append(n.undo, func() error { return runTool(n.redirectRule("-D", port)...) })
	return nil
}

// command runs argv inside the namespace, with its hosts file as
// /etc/hosts.
func (n *captureNet) command(argv []string) []string {
	return append([]string{"ip", "netns", "exec", n.ns}, argv...)
}

// cleanup removes what setup made, newest first, and reports every
// failure; the namespace's processes are gone by then.
func (n *captureNet) cleanup() error {
	var errs []error
	for i := len(n.undo) - 1; i >= 0; i-- {
		if err := n.undo[i](); err != nil {
			errs = append(errs, err)
		}
	}
	n.undo = nil
	return errors.Join(errs...)
}

// runTool runs one ip or iptables command, its output in the error.
func runTool(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// usedIPv4 lists the IPv4 networks on this host's interfaces.
func usedIPv4() ([]netip.Prefix, error) {
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		return nil, fmt.Errorf("--capture: ip -4 -o addr show: %w", err)
	}
	return parseIPAddrs(out), nil
}

// parseIPAddrs reads `ip -4 -o addr show`: "2: eth0    inet 10.0.0.5/24 brd ...".
func parseIPAddrs(out []byte) []netip.Prefix {
	var ps []netip.Prefix
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		for i := 0; i+1 < len(f); i++ {
			if f[i] == "inet" {
				if p, err := netip.ParsePrefix(f[i+1]); err == nil {
					ps = append(ps, p)
				}
			}
		}
	}
	return ps
}

// freeSubnet is the first /30 of capturePool, searching from slot start
// (so concurrent runs rarely try the same one), that overlaps none of
// used.
func freeSubnet(used []netip.Prefix, start int) (netip.Prefix, error) {
	const slots = 1 << (32 - 16 - 2)
	base := capturePool.Addr().As4()
	for i := range slots {
		s := (start + i) % slots
		a := netip.AddrFrom4([4]byte{base[0], base[1], byte(s >> 6), byte(s<<2) & 0xff})
		p := netip.PrefixFrom(a, 30)
		free := true
		for _, u := range used {
			if u.Overlaps(p) {
				free = false
				break
			}
		}
		if free {
			return p, nil
		}
	}
	return netip.Prefix{}, fmt.Errorf("--capture: no free /30 left in %s", capturePool)
}

// captureEnv is base plus PORT, without proxy variables: every
// connection is captured, and a proxy address on the host's loopback
// would be unreachable from the namespace anyway.
func captureEnv(base []string, appPort int) []string {
	drop := map[string]bool{}
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"} {
		drop[k], drop[strings.ToLower(k)] = true, true
	}
	drop["NODE_USE_ENV_PROXY"] = true
	env := make([]string, 0, len(base)+2)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env, "PORT="+strconv.Itoa(appPort), "WEFT_CAPTURE=1")
}

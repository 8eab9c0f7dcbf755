package dashboard

import (
	"net"
	"strings"
	"testing"
)

// FuzzHostAllowed: any Host header is answered without a panic, and a
// name that is not an IP address, localhost or a configured name is
// refused (the DNS rebinding guard has no way around it).
func FuzzHostAllowed(f *testing.F) {
	for _, s := range []string{"127.0.0.1:15090", "[::1]:1", "localhost", "LOCALHOST.:80", "cp.example", "evil.example:1", "[", ":", "", "127.0.0.1.evil", "[fe80::1%eth0]:1"} {
		f.Add(s)
	}
	names := map[string]bool{"localhost": true, "cp.example": true}
	f.Fuzz(func(t *testing.T, host string) {
		if !hostAllowed(host, names) {
			return
		}
		h := host
		if hh, _, err := net.SplitHostPort(host); err == nil {
			h = hh
		}
		h = strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
		if net.ParseIP(h) == nil && !names[h] {
			t.Fatalf("Host %q allowed, but %q is neither an IP address nor a known name", host, h)
		}
	})
}

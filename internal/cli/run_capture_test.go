package cli

import (
	"io"
	"net/netip"
	"strings"
	"testing"
)

func TestFreeSubnet(t *testing.T) {
	used := parseIPAddrs([]byte(`1: lo    inet 127.0.0.1/8 scope host lo\       valid_lft forever preferred_lft forever
2: eth0    inet 10.213.0.6/24 brd 10.213.0.255 scope global eth0\       valid_lft forever preferred_lft forever
7: wefthab    inet 10.213.1.1/30 scope global wefthab\       valid_lft forever preferred_lft forever
`))
	if len(used) != 3 {
		t.Fatalf("parsed %v", used)
	}
	for _, tc := range []struct {
		start int
		want  string
	}{
		{0, "10.213.1.4/30"},     // 10.213.0.0/24 and 10.213.1.0/30 are taken
		{64, "10.213.1.4/30"},    // slot 64 is 10.213.1.0
		{100, "10.213.1.144/30"}, // free where it starts
		{16383, "10.213.255.252/30"},
		{16384 + 70, "10.213.1.24/30"}, // starts wrap
	} {
		p, err := freeSubnet(used, tc.start)
		if err != nil || p.String() != tc.want {
			t.Errorf("start %d: %v %v, want %s", tc.start, p, err, tc.want)
		}
	}
	if _, err := freeSubnet([]netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, 5); err == nil || !strings.Contains(err.Error(), "no free /30") {
		t.Fatalf("a full pool: %v", err)
	}
}

func TestCaptureEnv(t *testing.T) {
	env := captureEnv([]string{"PATH=/bin", "HTTP_PROXY=http://corp:3128", "https_proxy=x", "NO_PROXY=a", "all_proxy=y", "NODE_USE_ENV_PROXY=1", "PORT=1"}, 8080)
	for _, k := range []string{"HTTP_PROXY", "https_proxy", "NO_PROXY", "all_proxy", "NODE_USE_ENV_PROXY"} {
		if v := lookupEnv(env, k); v != "" {
			t.Errorf("%s=%q reaches a captured app", k, v)
		}
	}
	if lookupEnv(env, "PORT") != "8080" || lookupEnv(env, "PATH") != "/bin" || lookupEnv(env, "WEFT_CAPTURE") != "1" {
		t.Fatalf("env %q", env)
	}
}

func TestParseRunCapture(t *testing.T) {
	t.Setenv("WEFT_SERVER", "")
	o, err := parseRun([]string{"--capture", "--service", "a", "--", "x"}, io.Discard)
	if err != nil || !o.capture {
		t.Fatalf("%+v %v", o, err)
	}
	if _, err := parseRun([]string{"--capture", "--service", "a", "--upstream", "b", "--", "x"}, io.Discard); err == nil || !strings.Contains(err.Error(), "--upstream: not used with --capture") {
		t.Fatalf("--upstream with --capture: %v", err)
	}
	cn := &captureNet{ns: "weft-1", hostIP: netip.MustParseAddr("10.213.0.1"), appIP: netip.MustParseAddr("10.213.0.2"), hostsFile: "/etc/netns/weft-1/hosts"}
	cfg := o.captureSidecarConfig(8080, cn, &runCreds{tokenFile: "/join.token"})
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Inbound[0].App != "10.213.0.2:8080" || cfg.Outbound.Proxy != "" || cfg.Outbound.Capture.Listen != "10.213.0.1:0" || cfg.Outbound.Capture.HostsFile != cn.hostsFile {
		t.Fatalf("inbound %+v outbound %+v capture %+v", cfg.Inbound[0], cfg.Outbound, cfg.Outbound.Capture)
	}
	if got := cn.command([]string{"node", "app.js"}); strings.Join(got, " ") != "ip netns exec weft-1 node app.js" {
		t.Fatalf("command %q", got)
	}
}

// FuzzParseIPAddrs: any output of `ip -4 -o addr show` (or garbage) gives
// only valid prefixes, each written in the input after "inet".
func FuzzParseIPAddrs(f *testing.F) {
	for _, s := range []string{
		"1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever\n",
		"2: eth0    inet 10.213.0.6/24 brd 10.213.0.255 scope global eth0\n3: x inet\n",
		"inet 300.1.1.1/8\ninet 1.2.3.4/33\ninet inet 1.2.3.4/32",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, p := range parseIPAddrs(b) {
			if !p.IsValid() || !strings.Contains(string(b), "inet "+p.String()) && !strings.Contains(string(b), p.String()) {
				t.Fatalf("%v not from %q", p, b)
			}
		}
	})
}

package sidecar

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestLoadExample(t *testing.T) {
	cfg, err := Load("testdata/frontend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Services[0].Pool.IdleTimeout != 30*time.Second {
		t.Errorf("idleTimeout = %v", cfg.Services[0].Pool.IdleTimeout)
	}
	if cfg.Limits.HeaderTimeout != 5*time.Second || cfg.Limits.IdleTimeout != 60*time.Second {
		t.Errorf("limits defaults not applied: %+v", cfg.Limits)
	}
	if cfg.Inbound[0].Protocol != "auto" || cfg.Services[0].Protocol != "http" {
		t.Errorf("protocol defaults not applied")
	}
	st, err := outboundState(cfg, "1", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"catalog", "catalog/v1", "catalog/v2"} {
		c := st.Clusters.Get(name)
		if c == nil {
			t.Fatalf("cluster %s missing", name)
		}
		want := 2
		if name != "catalog" {
			want = 1
		}
		if len(c.Endpoints) != want {
			t.Errorf("cluster %s has %d endpoints, want %d", name, len(c.Endpoints), want)
		}
	}
}

func TestParseRejectsWithFieldPath(t *testing.T) {
	base, err := os.ReadFile("testdata/frontend.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, from, to, want string
	}{
		{"unknown field", "lb: p2c", "lb: p2c\n    speed: fast", "field speed not found"},
		{"bad lb", "lb: p2c", "lb: fastest", "services[0].lb: must be one of"},
		{"bad address", "address: 127.0.0.1:16006", "address: nowhere", "services[0].endpoints[0].address: must be host:port"},
		{"unknown subset", "subset: v2}]", "subset: v3}]", "routes[0].rules[0].backends[0].subset: service \"catalog\" has no subset \"v3\""},
		{"unknown backend", "{service: catalog, subset: v1, weight: 90}", "{service: cart, weight: 90}", "routes[0].rules[1].backends[0].service: unknown service \"cart\""},
		{"bad regex", "pathPrefix: /api}", "pathRegex: \"(a\"}", "routes[0].rules[1].match.pathRegex: invalid regex"},
		{"port clash", "listen: 127.0.0.1:9001", "listen: 127.0.0.1:15001", "outbound.ports[0].listen: address 127.0.0.1:15001 is already used by outbound.proxy"},
		{"negative limit", "headerTimeout: 5s", "headerTimeout: -5s", "limits.headerTimeout: must be > 0"},
		{"ring hash without key", "lb: p2c", "lb: ring_hash", "services[0].hashOn: ring_hash needs exactly one of header or cookie"},
		{"bad app protocol", "app: 127.0.0.1:8080", "app: 127.0.0.1:8080\n    protocol: quic", "inbound[0].protocol: must be one of"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := string(base)
			if !strings.Contains(src, tt.from) {
				t.Fatalf("fixture lacks %q", tt.from)
			}
			_, err := Parse([]byte(strings.Replace(src, tt.from, tt.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseReportsEveryError(t *testing.T) {
	_, err := Parse([]byte("services:\n  - name: Bad_Name\n    lb: x\n"))
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"services[0].name", "services[0].lb"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/frontend.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("services: [{name: a, endpoints: [{address: '[::1]:80'}]}]"))
	f.Add([]byte("routes: [{service: x}]"))
	f.Add([]byte("inbound: [{listen: '127.0.0.1:0', app: '127.0.0.1:1', trustForwardedHeaders: true}]\noutbound: {trustForwardedHeaders: false}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err != nil {
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}

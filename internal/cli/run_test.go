package cli

import (
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/sidecar"
)

func TestParseRun(t *testing.T) {
	t.Setenv("WEFT_SERVER", "")
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
		check   func(*testing.T, *runOpts)
	}{
		{name: "defaults", args: []string{"--service", "catalog", "--version", "v1", "--", "app", "-x"}, check: func(t *testing.T, o *runOpts) {
			if !slices.Equal(o.argv, []string{"app", "-x"}) || o.labels["version"] != "v1" {
				t.Fatalf("argv %q labels %v", o.argv, o.labels)
			}
			if !slices.Equal(o.api, []string{"127.0.0.1:15080"}) || !slices.Equal(o.xds, []string{"127.0.0.1:15010"}) {
				t.Fatalf("api %v xds %v", o.api, o.xds)
			}
			if !strings.HasPrefix(o.id, "catalog-") {
				t.Fatalf("id %q", o.id)
			}
		}},
		{name: "xds follows control hosts", args: []string{"--service", "a", "--control", "cp-1:9080,cp-2:9080", "--upstream", "b,c", "--upstream", "d.shop", "--", "x"}, check: func(t *testing.T, o *runOpts) {
			if !slices.Equal(o.xds, []string{"cp-1:15010", "cp-2:15010"}) || !slices.Equal(o.upstreams, []string{"b", "c", "d.shop"}) {
				t.Fatalf("xds %v upstreams %v", o.xds, o.upstreams)
			}
		}},
		{name: "locality", args: []string{"--service", "a", "--zone", "z1", "--label", "topology.kubernetes.io/region=r1", "--", "x"}, check: func(t *testing.T, o *runOpts) {
			if o.zone != "z1" || o.region != "r1" {
				t.Fatalf("zone %q region %q", o.zone, o.region)
			}
			if l := o.sidecarConfig(1, &runCreds{tokenFile: "/join.token"}).Locality; l != (sidecar.Locality{Region: "r1", Zone: "z1"}) {
				t.Fatalf("sidecar locality %+v", l)
			}
		}},
		{name: "zone disagrees", args: []string{"--service", "a", "--zone", "z1", "--label", "topology.kubernetes.io/zone=z2", "--", "x"}, wantErr: "disagree"},
		{name: "no command", args: []string{"--service", "a"}, wantErr: "usage"},
		{name: "version disagrees", args: []string{"--service", "a", "--label", "version=v2", "--version", "v1", "--", "x"}, wantErr: "disagree"},
		{name: "bad label", args: []string{"--service", "a", "--label", "novalue", "--", "x"}, wantErr: "want KEY=VALUE"},
		{name: "unspecified host", args: []string{"--service", "a", "--host", "0.0.0.0", "--", "x"}, wantErr: "--host"},
		{name: "zero wait", args: []string{"--service", "a", "--wait", "0s", "--", "x"}, wantErr: "--wait: must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseRun(tc.args, io.Discard)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, o)
		})
	}
}

func TestRunSidecarConfigValid(t *testing.T) {
	o, err := parseRun([]string{"--service", "frontend", "--upstream", "catalog", "--", "x"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg := o.sidecarConfig(8080, &runCreds{tokenFile: "/join.token"})
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.Inbound[0].App != "127.0.0.1:8080" || cfg.Limits.DrainDelay > cfg.Limits.DrainTimeout {
		t.Fatalf("inbound %+v limits %+v", cfg.Inbound[0], cfg.Limits)
	}
	o.upstreams = []string{"Bad_Name"}
	if err := o.sidecarConfig(8080, &runCreds{tokenFile: "/join.token"}).Validate(); err == nil || !strings.Contains(err.Error(), "outbound.ports[0].service") {
		t.Fatalf("a bad --upstream: %v", err)
	}
}

func TestAppEnv(t *testing.T) {
	a := sidecar.Addrs{Proxy: "127.0.0.1:15001", Outbound: map[string]string{"catalog": "127.0.0.1:9001", "my-svc.shop": "127.0.0.1:9002"}}
	env := appEnv([]string{"PATH=/bin", "no_proxy=corp.example", "PORT=1"}, 8080, a, []string{"catalog", "my-svc.shop"})
	for k, want := range map[string]string{
		"PORT":                      "8080",
		"HTTP_PROXY":                "http://127.0.0.1:15001",
		"https_proxy":               "http://127.0.0.1:15001",
		"NO_PROXY":                  "corp.example," + loopbackNoProxy,
		"NODE_USE_ENV_PROXY":        "1",
		"WEFT_UPSTREAM_CATALOG":     "127.0.0.1:9001",
		"WEFT_UPSTREAM_MY_SVC_SHOP": "127.0.0.1:9002",
		"WEFT_UPSTREAMS":            "catalog=127.0.0.1:9001,my-svc.shop=127.0.0.1:9002",
		"PATH":                      "/bin",
	} {
		if got := lookupEnv(env, k); got != want {
			t.Errorf("%s=%q, want %q", k, got, want)
		}
	}
}

func FuzzLabelFlag(f *testing.F) {
	for _, s := range []string{"version=v1", "k=", "=v", "novalue", "a=b=c", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := labelFlag{}
		err := l.Set(s)
		k, v, ok := strings.Cut(s, "=")
		if (err == nil) != (ok && k != "") {
			t.Fatalf("Set(%q): %v", s, err)
		}
		if err == nil && l[k] != v {
			t.Fatalf("Set(%q) stored %q=%q", s, k, l[k])
		}
	})
}

package sidecar

import (
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/proxy/listener"
)

// The control plane's mode wins over inbound[].mtls for every inbound from
// the next accept; clearing it gives each inbound its own back.
func TestPushedMTLSWinsOverBootstrap(t *testing.T) {
	s := &Sidecar{mesh: &meshTLS{}}
	s.active.Store(&active{cfg: &Config{Inbound: []Inbound{{Name: "http"}, {Name: "legacy", MTLS: MTLSPermissive}}}})
	mode := func(name string) listener.MeshTLS { return s.inboundMode(name)() }
	if mode("http") != listener.MeshStrict || mode("legacy") != listener.MeshPermissive {
		t.Fatal("bootstrap modes not followed")
	}
	if m, src := s.mtlsMode("legacy"); m != MTLSPermissive || src != "bootstrap" {
		t.Errorf("legacy: %s from %s, want PERMISSIVE from bootstrap", m, src)
	}
	s.dyn.Store(&dynamic{MTLS: MTLSStrict})
	if mode("http") != listener.MeshStrict || mode("legacy") != listener.MeshStrict {
		t.Error("a pushed STRICT must win over the bootstrap's PERMISSIVE")
	}
	s.dyn.Store(&dynamic{MTLS: MTLSPermissive})
	if mode("http") != listener.MeshPermissive || mode("legacy") != listener.MeshPermissive {
		t.Error("a pushed PERMISSIVE must win over the bootstrap's STRICT")
	}
	if m, src := s.mtlsMode("http"); m != MTLSPermissive || src != "controlPlane" {
		t.Errorf("http: %s from %s, want PERMISSIVE from controlPlane", m, src)
	}
	s.dyn.Store(&dynamic{})
	if mode("http") != listener.MeshStrict || mode("legacy") != listener.MeshPermissive {
		t.Error("without a pushed mode each inbound keeps its own")
	}
	if d := s.dumpInboundMTLS(s.active.Load().cfg); len(d) != 2 || d[1] != (InboundMTLSDump{Name: "legacy", Mode: MTLSPermissive, Source: "bootstrap"}) {
		t.Errorf("/config inboundMTLS = %+v", d)
	}
}

// A sidecar without an identity terminates no mTLS: a pushed mode is
// refused (NACKed) with a reason naming the fix, never accepted and
// ignored; no mode is fine.
func TestPushedMTLSWithoutIdentityRefused(t *testing.T) {
	s := &Sidecar{}
	for _, m := range []string{MTLSStrict, MTLSPermissive} {
		err := s.checkPushedMTLS(m)
		if err == nil || !strings.Contains(err.Error(), "no identity") {
			t.Errorf("%s without an identity: err = %v", m, err)
		}
	}
	if err := s.checkPushedMTLS(""); err != nil {
		t.Errorf("no mode: %v", err)
	}
	if err := (&Sidecar{mesh: &meshTLS{}}).checkPushedMTLS("OPTIONAL"); err == nil {
		t.Error("an unknown mode was accepted")
	}
	if d := s.dumpInboundMTLS(&Config{Inbound: []Inbound{{Name: "http"}}}); d != nil {
		t.Errorf("/config without identity lists modes: %+v", d)
	}
}

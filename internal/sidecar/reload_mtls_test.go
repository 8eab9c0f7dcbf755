package sidecar

import (
	"reflect"
	"testing"
)

// TestReloadMayChangeInboundMTLSMode: a reload may switch an inbound
// between STRICT and PERMISSIVE (read at each accept), but still not move
// it.
func TestReloadMayChangeInboundMTLSMode(t *testing.T) {
	cur := &Config{Inbound: []Inbound{{Name: "http", Listen: "127.0.0.1:15006", App: "127.0.0.1:8080", MTLS: MTLSPermissive}}}
	strict := &Config{Inbound: []Inbound{{Name: "http", Listen: "127.0.0.1:15006", App: "127.0.0.1:8080", MTLS: MTLSStrict}}}
	moved := &Config{Inbound: []Inbound{{Name: "http", Listen: "127.0.0.1:15007", App: "127.0.0.1:8080", MTLS: MTLSPermissive}}}
	if !reflect.DeepEqual(listenersOf(cur), listenersOf(strict)) {
		t.Error("a change of mtls mode counts as a listener change")
	}
	if reflect.DeepEqual(listenersOf(cur), listenersOf(moved)) {
		t.Error("a moved inbound does not count as a listener change")
	}
	if cur.Inbound[0].MTLS != MTLSPermissive {
		t.Error("listenersOf changed the config it read")
	}
}

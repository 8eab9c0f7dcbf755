package cluster

import (
	"strings"
	"testing"
)

func TestNewSetValidates(t *testing.T) {
	_, err := NewSet([]Config{
		{Name: "a", Endpoints: []EndpointConfig{{Address: "nowhere"}, {Address: "127.0.0.1:0"}}},
		{Name: "a"},
		{Name: "", LB: LBRingHash},
	}, nil)
	for _, want := range []string{
		`clusters[0].endpoints[0].address: must be host:port`,
		`clusters[0].endpoints[1].address: must be host:port with a port in 1..65535; got "127.0.0.1:0"`,
		`clusters[1].name: duplicate cluster "a"`,
		`clusters[2].name: must not be empty`,
		`clusters[2].hash: ring hash needs exactly one of header or cookie`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v lacks %q", err, want)
		}
	}
}

func TestEndpointStateSurvivesCompatibleUpdates(t *testing.T) {
	cfg := Config{Name: "c", Endpoints: []EndpointConfig{{Address: "127.0.0.1:1"}, {Address: "127.0.0.1:2"}}}
	s1, err := NewSet([]Config{cfg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kept := s1.Get("c").Endpoints[0]
	gone := s1.Get("c").Endpoints[1]
	cfg.Endpoints = []EndpointConfig{{Address: "127.0.0.1:1"}, {Address: "127.0.0.1:3"}}
	s2, err := NewSet([]Config{cfg}, s1)
	if err != nil {
		t.Fatal(err)
	}
	if s2.Get("c").Endpoints[0] != kept {
		t.Fatal("unchanged endpoint was not reused")
	}
	Retire(s1, s2)
	if _, err := gone.Pool.Get(t.Context()); err == nil {
		t.Fatal("retired endpoint's pool still hands out connections")
	}
	// A new weight (or locality, or labels) is a new endpoint: requests in
	// flight read those fields without a lock, so they are never rewritten.
	cfg.Endpoints = []EndpointConfig{{Address: "127.0.0.1:1", Weight: 5}, {Address: "127.0.0.1:3"}}
	s3, err := NewSet([]Config{cfg}, s2)
	if err != nil {
		t.Fatal(err)
	}
	if e := s3.Get("c").Endpoints[0]; e == kept || e.Weight != 5 || kept.Weight == 5 {
		t.Fatal("a reweighted endpoint was rewritten in place")
	}
	cfg.Protocol = HTTP2
	s4, err := NewSet([]Config{cfg}, s3)
	if err != nil {
		t.Fatal(err)
	}
	if ep := s4.Get("c").Endpoints[0]; ep == s3.Get("c").Endpoints[0] || ep.H2 == nil {
		t.Fatal("protocol change must build new pools")
	}
}

func TestPickByPolicy(t *testing.T) {
	eps := []EndpointConfig{{Address: "127.0.0.1:1"}, {Address: "127.0.0.1:2"}, {Address: "127.0.0.1:3"}}
	s, err := NewSet([]Config{
		{Name: "rr", LB: LBRoundRobin, Endpoints: eps},
		{Name: "ring", LB: LBRingHash, Hash: HashPolicy{Header: "x-user"}, Endpoints: eps},
		{Name: "p2c", Endpoints: eps},
		{Name: "empty"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	rr := s.Get("rr")
	for i := 0; i < 6; i++ {
		if got := rr.Pick(0, false); got != rr.Endpoints[i%3] {
			t.Fatalf("round robin pick %d = %s", i, got.Address)
		}
	}
	ring := s.Get("ring")
	first := ring.Pick(42, true)
	for i := 0; i < 10; i++ {
		if ring.Pick(42, true) != first {
			t.Fatal("ring hash not sticky")
		}
	}
	if s.Get("p2c").Pick(0, false) == nil {
		t.Fatal("p2c picked nothing")
	}
	if s.Get("empty").Pick(0, false) != nil {
		t.Fatal("empty cluster picked an endpoint")
	}
}

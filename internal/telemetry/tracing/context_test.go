package tracing

import (
	"testing"
)

func TestParseTraceparent(t *testing.T) {
	good := "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	c, ok := ParseTraceparent([]byte(good))
	if !ok || !c.Sampled || c.Trace[0] != 0x4b || c.Span[7] != 0xb7 {
		t.Fatalf("ParseTraceparent(%q) = %+v, %v", good, c, ok)
	}
	if got := string(AppendTraceparent(nil, c.Trace, c.Span, c.Sampled)); got != good {
		t.Fatalf("round trip = %q, want %q", got, good)
	}
	for _, v := range []string{
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",     // short
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",  // 00 with extra
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // version ff
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",    // zero trace
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    // zero span
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    // uppercase
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    // separator
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-zz",    // flags
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01xyz", // future version, bad tail
	} {
		if c, ok := ParseTraceparent([]byte(v)); ok {
			t.Errorf("ParseTraceparent(%q) = %+v, want invalid", v, c)
		}
	}
	// A later version with 00's shape and more fields is read as 00.
	if c, ok := ParseTraceparent([]byte("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-extra")); !ok || c.Sampled {
		t.Errorf("future version: %+v, %v", c, ok)
	}
}

func TestParseB3(t *testing.T) {
	c, ok := ParseB3Single([]byte("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"))
	if !ok || !c.Sampled || c.Trace[0] != 0x80 || c.Span[0] != 0xe4 {
		t.Fatalf("b3 single = %+v, %v", c, ok)
	}
	c, ok = ParseB3Single([]byte("e457b5a2e4d86bd1-e457b5a2e4d86bd1-0"))
	if !ok || c.Sampled || c.Trace[0] != 0 || c.Trace[8] != 0xe4 {
		t.Fatalf("b3 64-bit unsampled = %+v, %v", c, ok)
	}
	for _, v := range []string{"0", "1", "d", "abc-def", "80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-x"} {
		if _, ok := ParseB3Single([]byte(v)); ok {
			t.Errorf("ParseB3Single(%q) valid, want invalid", v)
		}
	}
	c, ok = ParseB3Multi([]byte("80f198ee56343ba864fe8b2a57d3eff7"), []byte("e457b5a2e4d86bd1"), []byte("0"), nil)
	if !ok || c.Sampled {
		t.Fatalf("b3 multi sampled=0: %+v, %v", c, ok)
	}
	if c, ok = ParseB3Multi([]byte("80f198ee56343ba864fe8b2a57d3eff7"), []byte("e457b5a2e4d86bd1"), []byte("0"), []byte("1")); !ok || !c.Sampled {
		t.Fatalf("b3 debug flag overrides: %+v, %v", c, ok)
	}
	if _, ok = ParseB3Multi([]byte("80f198ee56343ba864fe8b2a57d3eff7"), nil, nil, nil); ok {
		t.Fatal("b3 multi without span id accepted")
	}
}

func TestBeginKeepsCallersDecision(t *testing.T) {
	never := New(0, nil)
	in, _ := ParseTraceparent([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	h := never.Begin(in)
	if !h.Sampled || h.Trace != in.Trace || h.Parent != in.Span || h.Server.IsZero() || h.Client.IsZero() || h.Server == h.Client {
		t.Fatalf("hop from sampled parent = %+v", h)
	}
	if h := never.Begin(Context{}); h.Sampled || h.Trace.IsZero() || !h.Parent.IsZero() {
		t.Fatalf("new trace with sampling 0 = %+v", h)
	}
	always := New(1, nil)
	if h := always.Begin(Context{}); !h.Sampled {
		t.Fatal("sampling 1 did not sample a new trace")
	}
	half := New(0.5, nil)
	n := 0
	for range 10000 {
		if half.Begin(Context{}).Sampled {
			n++
		}
	}
	if n < 4500 || n > 5500 {
		t.Fatalf("sampling 0.5 sampled %d of 10000", n)
	}
}

type recordSink struct{ spans []*Span }

func (r *recordSink) Export(s *Span) { r.spans = append(r.spans, s) }

func TestFinishLinksSpans(t *testing.T) {
	sink := &recordSink{}
	tr := New(1, sink)
	h := tr.Begin(Context{})
	var s Span
	s.Method = "GET"
	tr.Finish(&h, s, timeAt(0), timeAt(1), timeAt(3))
	if len(sink.spans) != 2 {
		t.Fatalf("got %d spans, want client and server", len(sink.spans))
	}
	client, server := sink.spans[0], sink.spans[1]
	if client.Kind != KindClient || client.Parent != server.ID || client.ID != h.Client || server.Kind != KindServer || !server.Parent.IsZero() {
		t.Fatalf("links: client %+v server %+v", client, server)
	}
	if !client.Start.Equal(timeAt(1)) || !server.Start.Equal(timeAt(0)) {
		t.Fatal("span times")
	}
	sink.spans = nil
	h = tr.Begin(Context{})
	tr.Finish(&h, s, timeAt(0), zeroTime, timeAt(3))
	if len(sink.spans) != 1 || sink.spans[0].Kind != KindServer {
		t.Fatalf("no upstream: %d spans", len(sink.spans))
	}
}

func FuzzParseTraceparent(f *testing.F) {
	f.Add([]byte("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"))
	f.Add([]byte("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-x"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := ParseTraceparent(b)
		if !ok {
			return
		}
		again, ok := ParseTraceparent(AppendTraceparent(nil, c.Trace, c.Span, c.Sampled))
		if !ok || again != c {
			t.Fatalf("%q: round trip %+v != %+v", b, again, c)
		}
	})
}

func FuzzParseB3(f *testing.F) {
	f.Add([]byte("80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1-05e3ac9a4f6e3b90"))
	f.Add([]byte("e457b5a2e4d86bd1-e457b5a2e4d86bd1-d"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := ParseB3Single(b)
		if !ok {
			return
		}
		if c.Trace.IsZero() || c.Span.IsZero() {
			t.Fatalf("%q: valid with a zero id", b)
		}
		multi, ok := ParseB3Multi(AppendHex(nil, c.Trace[:]), AppendHex(nil, c.Span[:]), sampledWord(c.Sampled), nil)
		if !ok || multi != c {
			t.Fatalf("%q: single %+v, multi %+v", b, c, multi)
		}
	})
}

func sampledWord(s bool) []byte {
	if s {
		return []byte("1")
	}
	return []byte("0")
}

package retry

import (
	"testing"
	"time"
)

func TestBudgetRatioAndFloor(t *testing.T) {
	t.Parallel()
	b := NewBudget(BudgetConfig{Percent: 20, MinPerSecond: 1, Window: 10 * time.Second})
	now := int64(100 * time.Second)
	for range 100 {
		b.Request(now)
	}
	// 20 % of 100 requests plus a floor of 1/s over 10 s: 30 retries.
	got := 0
	for range 1000 {
		if b.Withdraw(now) {
			got++
		}
	}
	if got != 30 {
		t.Fatalf("retries allowed = %d, want 30", got)
	}
	// Once the window has passed, the old counts no longer weigh.
	later := now + int64(11*time.Second)
	got = 0
	for range 1000 {
		if b.Withdraw(later) {
			got++
		}
	}
	if got != 10 {
		t.Fatalf("retries allowed on an idle window = %d, want the floor 10", got)
	}
}

func TestBudgetDefaultsAndDisabled(t *testing.T) {
	t.Parallel()
	b := NewBudget(BudgetConfig{})
	got := 0
	for range 1000 {
		if b.Withdraw(0) {
			got++
		}
	}
	if got != 100 { // 10/s over 10 s, no requests
		t.Fatalf("default floor = %d, want 100", got)
	}
	off := NewBudget(BudgetConfig{Disabled: true})
	for range 1000 {
		if !off.Withdraw(0) {
			t.Fatal("a disabled budget refused a retry")
		}
	}
	var nilB *Budget
	if !nilB.Withdraw(0) {
		t.Fatal("a nil budget refused a retry")
	}
}

func TestBackoffBoundsAndGrowth(t *testing.T) {
	t.Parallel()
	p := &Policy{}
	base, ceil := p.Backoff()
	if base != 25*time.Millisecond || ceil != 250*time.Millisecond {
		t.Fatalf("defaults = %v, %v", base, ceil)
	}
	for n, want := range []time.Duration{25, 50, 100, 200, 250, 250, 250} {
		want *= time.Millisecond
		top := p.Delay(n, ^uint64(0)>>1)
		if top >= want || top < want-time.Millisecond {
			t.Fatalf("retry %d: largest delay %v, want just under %v", n, top, want)
		}
		if d := p.Delay(n, 0); d != 0 {
			t.Fatalf("retry %d: smallest delay %v, want 0 (full jitter)", n, d)
		}
	}
	if _, c := (&Policy{BackoffBase: time.Second}).Backoff(); c != 10*time.Second {
		t.Fatalf("cap with only a base = %v, want 10 × base", c)
	}
	if d := p.Delay(100, ^uint64(0)>>1); d >= 250*time.Millisecond {
		t.Fatalf("huge n overflowed the cap: %v", d)
	}
}

func TestClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		on     On
		codes  []uint16
		code   int
		grpc   int
		failed Outcome
		want   bool
	}{
		{"5xx retries 500", FiveXX, nil, 500, -1, OK, true},
		{"5xx ignores 429", FiveXX, nil, 429, -1, OK, false},
		{"gateway-error retries 503", GatewayError, nil, 503, -1, OK, true},
		{"gateway-error ignores 500", GatewayError, nil, 500, -1, OK, false},
		{"listed code", RetriableStatusCodes, []uint16{409}, 409, -1, OK, true},
		{"unlisted code", RetriableStatusCodes, []uint16{409}, 410, -1, OK, false},
		{"grpc unavailable", GRPCUnavailable, nil, 200, 14, OK, true},
		{"grpc cancelled", GRPCCancelled, nil, 200, 1, OK, true},
		{"grpc deadline", GRPCDeadlineExceeded, nil, 200, 4, OK, true},
		{"grpc exhausted", GRPCResourceExhausted, nil, 200, 8, OK, true},
		{"grpc not listed", GRPCUnavailable, nil, 200, 13, OK, false},
		{"connect under connect-failure", ConnectFailure, nil, 0, -1, Connect, true},
		{"connect under 5xx", FiveXX, nil, 0, -1, Connect, true},
		{"reset under connect-failure", ConnectFailure, nil, 0, -1, ResetBefore, false},
		{"reset under reset", Reset, nil, 0, -1, ResetBefore, true},
		{"per-try timeout under gateway-error", GatewayError, nil, 0, -1, TryTimeout, true},
		{"per-try timeout under reset", Reset, nil, 0, -1, TryTimeout, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &Policy{On: tt.on, StatusCodes: tt.codes}
			var got bool
			if tt.failed != OK {
				got = p.Failure(tt.failed)
			} else {
				got = p.RetriesStatus(tt.code, tt.grpc)
			}
			if got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestIdempotent(t *testing.T) {
	t.Parallel()
	for m, want := range map[string]bool{"GET": true, "HEAD": true, "OPTIONS": true, "TRACE": true, "PUT": true, "DELETE": true, "POST": false, "PATCH": false, "CONNECT": false, "get": false} {
		if Idempotent([]byte(m)) != want {
			t.Errorf("Idempotent(%s) != %v", m, want)
		}
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"0", "5", "120", "999999", "1000000", "", "-1", "Wed, 21 Oct 2015 07:28:00 GMT", "1.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, ok := ParseRetryAfter([]byte(s))
		if ok && (n < 0 || n > 999999) {
			t.Fatalf("ParseRetryAfter(%q) = %d", s, n)
		}
	})
}

// BenchmarkRetryDecision is the per-request cost of the retry machinery
// when nothing fails: counting the request in the budget and checking
// the response's status against the policy.
func BenchmarkRetryDecision(b *testing.B) {
	bud := NewBudget(BudgetConfig{})
	p := &Policy{On: GatewayError | RetriableStatusCodes | GRPCUnavailable, StatusCodes: []uint16{409, 429}, Attempts: 2}
	now := time.Now().UnixNano()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		bud.Request(now + int64(i))
		if p.RetriesStatus(200, -1) {
			b.Fatal("200 retried")
		}
	}
}

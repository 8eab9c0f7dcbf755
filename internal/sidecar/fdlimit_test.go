package sidecar

import "testing"

func TestPlanFDsKeepsReserveAndBoundsPipes(t *testing.T) {
	for _, tt := range []struct{ limit, inUse int }{{1024, 20}, {20000, 30}, {1 << 20, 30}, {200, 20}} {
		p := planFDs(tt.limit, tt.inUse)
		used := p.InUse + 2*p.Pipes + 2*p.Conns
		if used > p.Limit-p.Reserve || p.Reserve < adminMaxConns+fixedReserveFDs {
			t.Errorf("limit %d: plan %+v spends %d fds, past the reserve", tt.limit, p, used)
		}
		if p.Pipes > maxPipes || p.Conns < 0 {
			t.Errorf("limit %d: plan %+v", tt.limit, p)
		}
		if r := p.listenerReserve(3); r < 1 || r > listenerReserveConns {
			t.Errorf("limit %d: listener reserve %d", tt.limit, r)
		}
	}
}

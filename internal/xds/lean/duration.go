package lean

import (
	"math"
	"time"
)

// duration is a google.protobuf.Duration as sent, before any range check.
type duration struct {
	set   bool
	secs  int64
	nanos int32
}

func (d *duration) merge(b []byte) error {
	d.set = true
	return walk(b, func(f field) error {
		switch {
		case f.is(1, varintT):
			d.secs = int64(f.u)
		case f.is(2, varintT):
			d.nanos = int32(f.u)
		}
		return nil
	})
}

// maxDurationSecs is the range protobuf allows a Duration: ±10000 years.
const maxDurationSecs = 315576000000

// valid is durationpb's CheckValid: seconds in range, nanos below one
// second, and both of the same sign. PGV rejects an invalid Duration in any
// field that carries a rule.
func (d duration) valid() bool {
	switch {
	case d.secs < -maxDurationSecs || d.secs > maxDurationSecs:
		return false
	case d.nanos <= -1e9 || d.nanos >= 1e9:
		return false
	case d.secs > 0 && d.nanos < 0, d.secs < 0 && d.nanos > 0:
		return false
	}
	return true
}

// std converts d as durationpb's AsDuration does, saturating on overflow,
// so a field without a range rule maps exactly as client.ToProxy maps it.
func (d duration) std() time.Duration {
	whole := time.Duration(d.secs) * time.Second
	over := whole/time.Second != time.Duration(d.secs)
	sum := whole + time.Duration(d.nanos)
	over = over || (d.secs < 0 && d.nanos < 0 && sum > 0) || (d.secs > 0 && d.nanos > 0 && sum < 0)
	switch {
	case over && d.secs < 0:
		return math.MinInt64
	case over && d.secs > 0:
		return math.MaxInt64
	}
	return sum
}

package tracing

import "time"

var zeroTime time.Time

func timeAt(sec int) time.Time { return time.Unix(1700000000+int64(sec), 0) }

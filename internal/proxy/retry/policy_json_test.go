package retry

import (
	"encoding/json"
	"testing"
	"time"
)

func TestPolicyJSONInConfigWords(t *testing.T) {
	p := &Policy{On: FiveXX | ConnectFailure, Attempts: 2, PerTryTimeout: time.Second, RetryAfterMax: time.Second}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"retryOn":["5xx","connect-failure"],"attempts":2,"perTryTimeout":"1s","backoff":"25ms","maxBackoff":"250ms","retryAfterMax":"1s","retryNonIdempotent":false}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

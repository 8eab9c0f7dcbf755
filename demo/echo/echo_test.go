package echo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHandlerReportsRequest(t *testing.T) {
	srv := httptest.NewServer(Handler("catalog", "v2"))
	defer srv.Close()
	req, _ := http.NewRequest("POST", srv.URL+"/items?x=1", strings.NewReader("hello"))
	req.Header.Set("X-Test", "yes")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep Reply
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if rep.Service != "catalog" || rep.Version != "v2" || rep.Path != "/items?x=1" || rep.BodyBytes != 5 || rep.Headers["X-Test"] != "yes" {
		t.Fatalf("unexpected reply %+v", rep)
	}
	if got := resp.Header.Get("X-Served-By"); got != "catalog-v2" {
		t.Fatalf("X-Served-By = %q", got)
	}
}

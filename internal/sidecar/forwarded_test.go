package sidecar

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// The sidecar's defaults for forwarding headers: the outbound side trusts
// the local app and appends its hop; the inbound side is the mesh edge and
// replaces a caller's claims with what it saw, unless told to trust them.
func TestForwardedHeadersTrustByListener(t *testing.T) {
	seen := make(chan [2]string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- [2]string{r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Real-Ip")}
	}))
	defer app.Close()
	appAddr := app.Listener.Addr().String()
	for _, tc := range []struct {
		name         string
		trustInbound bool
		trustOut     *bool
		wantIn       [2]string
		wantOut      [2]string
	}{
		{"defaults", false, nil, [2]string{"127.0.0.1", ""}, [2]string{"6.6.6.6, 127.0.0.1", "6.6.6.6"}},
		{"inbound trusted, app not", true, new(bool), [2]string{"6.6.6.6, 127.0.0.1", "6.6.6.6"}, [2]string{"127.0.0.1", ""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &Config{
				Admin:    "off",
				Inbound:  []Inbound{{Name: "web", Listen: "127.0.0.1:0", App: appAddr, Protocol: "http", TrustForwardedHeaders: tc.trustInbound}},
				Outbound: Outbound{Ports: []OutboundPort{{Listen: "127.0.0.1:0", Service: "app"}}, TrustForwardedHeaders: tc.trustOut},
				Upstream: &Upstream{Address: appAddr},
				Limits:   Limits{DrainTimeout: time.Second},
			}
			_, a := runSidecar(t, cfg)
			for side, addr := range map[string]string{"inbound": a.Inbound["web"], "outbound": a.Outbound["app"]} {
				req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
				req.Header.Set("X-Forwarded-For", "6.6.6.6")
				req.Header.Set("X-Real-IP", "6.6.6.6")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				got := <-seen
				want := tc.wantOut
				if side == "inbound" {
					want = tc.wantIn
				}
				if got != want {
					t.Errorf("%s: app saw X-Forwarded-For, X-Real-IP = %q, want %q", side, got, want)
				}
			}
		})
	}
}

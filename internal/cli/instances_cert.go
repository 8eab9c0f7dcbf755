package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/weft-mesh/weft/internal/api"
	apiclient "github.com/weft-mesh/weft/internal/api/client"
)

// instanceCerts fetches the certificate rows of the control plane's
// stats, by service/id, for weft get instances' CERT column. The listing
// still prints without them (a warning says why the column is empty).
func instanceCerts(ctx context.Context, c *apiclient.Client, stderr io.Writer) map[string]api.CertificateStatus {
	st, err := c.Stats(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "warning: no certificate figures (stats):", err)
		return nil
	}
	out := make(map[string]api.CertificateStatus, len(st.Certificates))
	for _, s := range st.Certificates {
		out[s.Service+"/"+s.Instance] = s
	}
	return out
}

// certCol is the CERT column: time left and state ("11h58m VALID",
// "9m EXPIRING", "EXPIRED", "none"), or "-" when the instance's sidecar
// has not been scraped (no admin listener, or not yet).
func certCol(certs map[string]api.CertificateStatus, in api.Instance) string {
	s, ok := certs[in.Service+"/"+in.ID]
	switch {
	case !ok:
		return "-"
	case s.State == api.CertNone:
		return "none"
	case s.State == api.CertExpired:
		return s.State
	}
	return timeLeft(time.Duration(s.SecondsLeft)*time.Second) + " " + s.State
}

// timeLeft is a duration to two units at most: 2d3h, 11h58m, 9m12s, 40s.
func timeLeft(d time.Duration) string {
	d = d.Truncate(time.Second)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd%dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
	case d >= time.Hour:
		return fmt.Sprintf("%dh%dm", d/time.Hour, d%time.Hour/time.Minute)
	case d >= time.Minute:
		return fmt.Sprintf("%dm%ds", d/time.Minute, d%time.Minute/time.Second)
	}
	return fmt.Sprintf("%ds", d/time.Second)
}

// filterCerts keeps the certificate rows of one service (weft stat
// SERVICE -o json).
func filterCerts(cs []api.CertificateStatus, name string) []api.CertificateStatus {
	out := []api.CertificateStatus{}
	for _, c := range cs {
		if c.Service == name || strings.TrimSuffix(name, ".default") == c.Service {
			out = append(out, c)
		}
	}
	return out
}

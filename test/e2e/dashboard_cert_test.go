package e2e

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"
)

// uiCert is one instance's certificate cell on the services page.
type uiCert struct {
	State string `json:"state"`
	Left  int64  `json:"left"`
	Text  string `json:"text"`
	Class string `json:"class"`
}

const readCerts = `(() => {
  const out = {};
  for (const tr of document.querySelectorAll('.service .instances tr[data-instance]')) {
    const td = tr.querySelector('td.cert');
    const b = td && td.querySelector('.badge');
    out[tr.dataset.instance] = {state: td ? td.dataset.certState : '', left: td ? Number(td.dataset.secondsLeft || -1) : -1,
      text: td ? td.textContent : '', class: b ? b.className : ''};
  }
  return out;
})()`

// checkCertColumn: on the services page every sidecar of the mesh (each
// has a workload certificate from the control plane's CA, 24 h by
// default) shows VALID, in green, with the time left the control plane
// read from its gauges; no certificate banner is up. weft get instances
// shows the same in its CERT column.
func checkCertColumn(t *testing.T, ctx context.Context, c *cp) {
	t.Helper()
	want := []string{"catalog-v1", "catalog-v2", "ratings-v1", "frontend-1"}
	var got map[string]uiCert
	eventually(t, 20*time.Second, "every instance's certificate on the services page", func() bool {
		got = eval[map[string]uiCert](t, ctx, readCerts)
		for _, id := range want {
			if got[id].State == "" {
				return false
			}
		}
		return true
	})
	left := regexp.MustCompile(`^expires in (\d+)h (\d+)m$`)
	for _, id := range want {
		c := got[id]
		if c.State != "VALID" || c.Class != "badge ok" || !left.MatchString(c.Text) {
			t.Errorf("%s: certificate cell %+v, want VALID, green, \"expires in Hh Mm\"", id, c)
			continue
		}
		if c.Left < 23*3600 || c.Left > 24*3600 {
			t.Errorf("%s: %d s left on a 24 h certificate issued minutes ago", id, c.Left)
		}
	}
	out, ok := weft(t, c.api, "", "get", "instances", "catalog")
	if cert := regexp.MustCompile(`\s2[34]h\d+m VALID\s`); !ok || len(cert.FindAllString(out, -1)) != 2 {
		t.Errorf("weft get instances catalog: want both instances' certificate as \"23hMMm VALID\":\n%s", out)
	}
	if eval[bool](t, ctx, `!document.getElementById('cert-alert').hidden`) {
		t.Errorf("certificate banner up with every certificate valid: %s", eval[string](t, ctx, `document.getElementById('cert-alert').textContent`))
	}
}

// uiAlert is the page's rendering of an EXPIRING and an EXPIRED row.
type uiAlert struct {
	Hidden   bool   `json:"hidden"`
	Class    string `json:"class"`
	Text     string `json:"text"`
	Expiring string `json:"expiring"`
	Expired  string `json:"expired"`
}

// The mesh's certificates are all VALID, and making one EXPIRING takes
// most of its lifetime: the page's rendering of the other states is
// checked on rows written into its state, in one synchronous evaluation
// (no refresh can interleave), then the page is put back.
const renderBadCerts = `(() => {
  const real = state.stats;
  const certs = (real.certificates || []).map((c) => Object.assign({}, c));
  const v1 = certs.find((c) => c.instance === 'catalog-v1'), v2 = certs.find((c) => c.instance === 'catalog-v2');
  Object.assign(v1, {state: 'EXPIRING', secondsLeft: 552, renewalFailures: 4});
  Object.assign(v2, {state: 'EXPIRED', secondsLeft: 0, renewalFailures: 9});
  state.stats = Object.assign({}, real, {certificates: certs});
  renderStatus(); render();
  const box = document.getElementById('cert-alert');
  const cell = (id) => document.querySelector('.instances tr[data-instance="' + id + '"] td.cert').textContent;
  const out = {hidden: box.hidden, class: box.className, text: box.textContent, expiring: cell('catalog-v1'), expired: cell('catalog-v2')};
  state.stats = real;
  renderStatus(); render();
  return out;
})()`

// checkCertAlert: an EXPIRING and an EXPIRED certificate show amber and
// red on the services page, and raise the red banner naming both.
func checkCertAlert(t *testing.T, ctx context.Context) {
	t.Helper()
	a := eval[uiAlert](t, ctx, renderBadCerts)
	if a.Hidden || a.Class != "alert bad" || !strings.Contains(a.Text, "1 EXPIRED, 1 EXPIRING") ||
		!strings.Contains(a.Text, "catalog/catalog-v2 (expired)") || !strings.Contains(a.Text, "catalog/catalog-v1 (9m 12s left)") {
		t.Errorf("certificate banner %+v", a)
	}
	if a.Expiring != "EXPIRING · 9m 12s left 4 failed renewals" || a.Expired != "EXPIRED 9 failed renewals" {
		t.Errorf("certificate cells: EXPIRING %q, EXPIRED %q", a.Expiring, a.Expired)
	}
	if eval[bool](t, ctx, `!document.getElementById('cert-alert').hidden`) {
		t.Error("the banner stays up after the real rows are back")
	}
}

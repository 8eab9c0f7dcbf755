package controlplane

import (
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/store"
)

// etcd TLS files are for an external cluster, and a client certificate
// needs its key: either mistake is refused by name before anything starts.
func TestEtcdTLSValidation(t *testing.T) {
	base := func() Config {
		return Config{DataDir: "d", XDS: "a:1", API: "b:2", LeaseTTL: time.Second, StreamGrace: time.Second, CredentialsDir: "c"}
	}
	c := base()
	c.EtcdTLS = store.EtcdTLS{CAFile: "ca.pem"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "pass --etcd-endpoints too") {
		t.Errorf("TLS without endpoints: %v", err)
	}
	c = base()
	c.DataDir, c.EtcdEndpoints = "", []string{"https://127.0.0.1:2379"}
	c.EtcdTLS = store.EtcdTLS{CertFile: "client.pem"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--etcd-keyfile go together") {
		t.Errorf("certificate without key: %v", err)
	}
	c.EtcdTLS.KeyFile = "client-key.pem"
	if err := c.Validate(); err != nil {
		t.Errorf("endpoints with certificate and key: %v", err)
	}
}

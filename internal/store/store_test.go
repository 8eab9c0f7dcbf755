package store_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/store"
	"github.com/weft-mesh/weft/internal/store/storetest"
)

func TestEmbeddedConformance(t *testing.T) {
	s, err := store.OpenEmbedded(context.Background(), store.EmbeddedConfig{DataDir: t.TempDir(), FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.Run(t, func(*testing.T) store.Store { return s })
}

func TestEmbeddedStateSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := store.OpenEmbedded(ctx, store.EmbeddedConfig{DataDir: dir, FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Put(ctx, "resources/Service/default/catalog", []byte(`{"kind":"Service"}`)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = store.OpenEmbedded(ctx, store.EmbeddedConfig{DataDir: dir, FastTicks: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	kv, err := s.Get(ctx, "resources/Service/default/catalog")
	if err != nil || string(kv.Value) != `{"kind":"Service"}` {
		t.Fatalf("after restart: %+v %v", kv, err)
	}
}

// TestExternalEtcdConformance runs the suite against Debian's etcd-server
// (3.4), an older, external server, started here on loopback.
func TestExternalEtcdConformance(t *testing.T) {
	client := startEtcd(t, "http", nil)
	var s *store.Etcd
	eventuallyOpen(t, func(ctx context.Context) (err error) {
		s, err = store.OpenRemote(ctx, []string{"http://" + client}, time.Second, nil)
		return err
	})
	defer s.Close()
	storetest.Run(t, func(*testing.T) store.Store { return s })
}

// startEtcd runs Debian's etcd-server on loopback, its clients served
// over scheme (http or https, with the TLS flags in extra), until the
// test ends; its log is shown if the test failed. It returns the client
// address.
func startEtcd(t *testing.T, scheme string, extra []string) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("etcd binary missing in CI: scripts/install-deps.sh installs etcd-server")
		}
		t.Skip("etcd not installed (apt-get install etcd-server, or run ./test.sh)")
	}
	dir := t.TempDir()
	client, peer := freeAddr(t), freeAddr(t)
	args := append([]string{"--name", "ext", "--data-dir", filepath.Join(dir, "data"),
		"--listen-client-urls", scheme + "://" + client, "--advertise-client-urls", scheme + "://" + client,
		"--listen-peer-urls", "http://" + peer, "--initial-advertise-peer-urls", "http://" + peer,
		"--initial-cluster", "ext=http://" + peer, "--heartbeat-interval", "10", "--election-timeout", "100"}, extra...)
	cmd := exec.Command(bin, args...)
	log, _ := os.Create(filepath.Join(dir, "etcd.log"))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "etcd.log"))
			t.Logf("etcd log:\n%s", b)
		}
	})
	return client
}

// eventuallyOpen retries open (each try bounded by a second) until it
// succeeds or 20 s have passed: a fresh etcd takes a moment to answer.
func eventuallyOpen(t *testing.T, open func(context.Context) error) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := open(ctx)
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("external etcd never answered: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

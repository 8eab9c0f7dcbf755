package e2e

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
	"google.golang.org/protobuf/encoding/protowire"
)

// TestControlPlaneRefusesTheUnauthenticated reproduces issue 10's
// "Measured today" list against a running control plane and mesh: a rogue
// registration, deregistrations without the lease or identity, a
// hand-made ADS request without a certificate, and 10,000 streams on one
// connection. Each attack is paired with the legitimate request it
// imitates, which must still work, so the test can fail.
func TestControlPlaneRefusesTheUnauthenticated(t *testing.T) {
	c := startControl(t, freePort(t), freePort(t), "--data-dir", filepath.Join(t.TempDir(), "data"))
	m := startCPMesh(t, c)
	if out, ok := weft(t, c.api, catalogMesh(50, 50), "apply", "-f", "-"); !ok {
		t.Fatalf("apply: %s", out)
	}
	eventually(t, 20*time.Second, "both instances registered and ready", func() bool {
		out, ok := weft(t, c.api, "", "get", "instances", "catalog")
		return ok && strings.Count(out, " true ") == 2
	})
	m.waitShare(t, "50/50 through the mesh", 0.2, 0.8)
	anon := cpHTTP(c.creds) // verifies the control plane, presents nothing
	defer anon.CloseIdleConnections()
	base := "https://" + c.api + "/v1"

	t.Run("rogue registration", func(t *testing.T) {
		rogue := `{"instance": {"service": "catalog", "id": "rogue", "address": "127.0.0.1", "port": 1, "ready": true}}`
		code, body := call(t, anon, http.MethodPost, base+"/instances", rogue, "")
		if code != http.StatusUnauthorized {
			t.Fatalf("rogue POST /v1/instances without identity: %d %s", code, body)
		}
		// An SVID of another service may not register catalog.
		other := workloadClient(t, c, "rogue")
		if code, body := call(t, other, http.MethodPost, base+"/instances", rogue, ""); code != http.StatusForbidden || !strings.Contains(body, `only, not \"catalog\"`) {
			t.Fatalf("POST /v1/instances as another service: %d %s", code, body)
		}
		// Plain HTTP is not served at all.
		if resp, err := http.Post("http://"+c.api+"/v1/instances", "application/json", strings.NewReader(rogue)); err == nil {
			resp.Body.Close()
			if resp.StatusCode/100 == 2 {
				t.Fatalf("plaintext registration: %s", resp.Status)
			}
		}
		if out, _ := weft(t, c.api, "", "get", "instances", "catalog"); strings.Contains(out, "rogue") {
			t.Fatalf("the rogue instance got registered:\n%s", out)
		}
		if s := m.tryShare(100); s < 0 {
			t.Fatal("requests failed after the rogue registrations")
		}
	})

	t.Run("deregistration needs lease and identity", func(t *testing.T) {
		for _, v := range []string{"v1", "v2"} {
			path := base + "/instances/catalog/catalog-" + v
			for i := 0; i < 15; i++ {
				if code, body := call(t, anon, http.MethodDelete, path, "", ""); code != http.StatusUnauthorized {
					t.Fatalf("DELETE without identity: %d %s", code, body)
				}
			}
			cat := workloadClient(t, c, "catalog")
			if code, body := call(t, cat, http.MethodDelete, path, "", ""); code != http.StatusBadRequest || !strings.Contains(body, "lease") {
				t.Fatalf("DELETE with catalog's identity, no lease: %d %s", code, body)
			}
			if code, body := call(t, cat, http.MethodDelete, path+"?lease=12345", "", ""); code != http.StatusForbidden {
				t.Fatalf("DELETE with a wrong lease: %d %s", code, body)
			}
		}
		out, _ := weft(t, c.api, "", "get", "instances", "catalog")
		if strings.Count(out, " true ") != 2 {
			t.Fatalf("real instances were taken out:\n%s", out)
		}
		m.waitShare(t, "both instances still serve", 0.2, 0.8)
	})

	t.Run("ADS needs a mesh certificate", func(t *testing.T) {
		// Without a client certificate (TLS), and in plaintext (h2c):
		// no response, whatever the request.
		if n, err := adsExchange(t, c, nil, discoveryRequest("rogue-1"), 1); n != 0 {
			t.Fatalf("ADS over TLS without a client certificate answered %d streams (%v)", n, err)
		}
		if n, err := adsPlain(t, c.xds); n != 0 {
			t.Fatalf("plaintext ADS answered (%d bytes, %v)", n, err)
		}
		// A mesh workload may read config, as a sidecar does...
		svid := svid(t, c, "rogue")
		if n, err := adsExchange(t, c, &svid, discoveryRequest("rogue-1"), 1); n != 1 {
			t.Fatalf("ADS with a mesh SVID: %d streams answered (%v); the refusals above prove nothing", n, err)
		}
		// ...but not under a node id a catalog instance holds.
		if n, err := adsExchange(t, c, &svid, discoveryRequest("catalog-v1"), 1); n != 0 {
			t.Fatalf("ADS as node catalog-v1 with the rogue service's SVID: answered (%v)", err)
		}
	})

	t.Run("10000 streams on one connection", func(t *testing.T) {
		before := rssKB(t, c.p.cmd.Process.Pid)
		svid := svid(t, c, "rogue")
		n, err := adsExchange(t, c, &svid, discoveryRequest("flood-1"), 10000)
		after := rssKB(t, c.p.cmd.Process.Pid)
		t.Logf("10000 streams on one connection: %d answered (%v); control plane RSS %d -> %d KiB", n, err, before, after)
		if n > 16 {
			t.Fatalf("%d streams served on one connection; the cap is 16", n)
		}
		if n == 0 {
			t.Fatal("no stream served: the cap cannot be told from a refusal")
		}
		if after-before > 40<<10 {
			t.Fatalf("control plane grew %d KiB under the stream flood", after-before)
		}
		if !apiUp(c.api, c.creds) {
			t.Fatal("control plane API down after the stream flood")
		}
	})

	t.Run("garbage and oversized requests", func(t *testing.T) {
		junk := make([]byte, 1<<20)
		rand.Read(junk)
		for _, addr := range []string{c.api, c.xds} {
			for i := 0; i < 20; i++ {
				conn, err := net.DialTimeout("tcp", addr, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				conn.SetDeadline(time.Now().Add(2 * time.Second))
				conn.Write(junk[:4096*(i+1)])
				conn.Close()
			}
		}
		// An unauthenticated 64 MiB apply is refused before its body is read;
		// the operator's is cut at the body cap.
		big := strings.Repeat("x", 64<<20)
		if code, _ := call(t, anon, http.MethodPost, base+"/apply", big, ""); code != http.StatusUnauthorized {
			t.Fatalf("unauthenticated oversized apply: %d", code)
		}
		if code, body := call(t, anon, http.MethodPost, base+"/apply", big, operatorToken(t, c)); code != http.StatusBadRequest {
			t.Fatalf("oversized apply with the operator token: %d %s", code, body)
		}
		// gRPC that is garbage (not a DiscoveryRequest) or oversized (a
		// message header announcing 64 MiB, past the 4 MiB cap), from a
		// workload with a valid certificate: refused, nothing answered.
		svid := svid(t, c, "rogue")
		oversized := make([]byte, 5+64<<10)
		binary.BigEndian.PutUint32(oversized[1:], 64<<20)
		garbage := append([]byte{0, 0, 0, 1, 0}, bytes.Repeat([]byte{0xff}, 256)...) // not protobuf
		for name, body := range map[string][]byte{"oversized": oversized, "garbage": garbage} {
			if n, err := adsExchange(t, c, &svid, body, 4); n != 0 {
				t.Fatalf("%s gRPC message answered on %d streams (%v)", name, n, err)
			}
		}
		if n, err := adsExchange(t, c, &svid, discoveryRequest("after-garbage"), 1); n != 1 {
			t.Fatalf("a valid ADS request after the garbage: %d answered (%v)", n, err)
		}
		if !apiUp(c.api, c.creds) {
			t.Fatal("control plane down after garbage")
		}
		m.waitShare(t, "the mesh still serves", 0.2, 0.8)
	})

	t.Run("CLI credentials", func(t *testing.T) {
		home := t.TempDir()
		bare := func(env []string, args ...string) (string, bool) {
			cmd := exec.Command(bin.weft, args...)
			cmd.Env = append([]string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "WEFT_SERVER=" + c.api}, env...)
			out, err := cmd.CombinedOutput()
			return string(out), err == nil
		}
		caEnv := "WEFT_CA_FILE=" + filepath.Join(c.creds, "ca.pem")
		// No CA: it says where it looked.
		if out, ok := bare(nil, "get", "routes"); ok || !strings.Contains(out, "no CA bundle was found") || !strings.Contains(out, filepath.Join(home, ".local/state/weft/ca.pem")) {
			t.Fatalf("without a CA: ok=%v\n%s", ok, out)
		}
		// Reads from loopback need no token.
		if out, ok := bare([]string{caEnv}, "get", "routes"); !ok || !strings.Contains(out, "catalog-split") {
			t.Fatalf("a read from loopback: ok=%v\n%s", ok, out)
		}
		// Writes do: a clear 401 naming where it looked.
		manifest := filepath.Join(t.TempDir(), "mesh.yaml")
		os.WriteFile(manifest, []byte(catalogMesh(50, 50)), 0o600)
		out, ok := bare([]string{caEnv}, "apply", "-f", manifest)
		if ok || !strings.Contains(out, "401 unauthenticated") || !strings.Contains(out, "WEFT_TOKEN_FILE (unset)") || !strings.Contains(out, filepath.Join(home, ".local/state/weft/operator.token")+" (missing)") {
			t.Fatalf("apply without a token: ok=%v\n%s", ok, out)
		}
		if out, ok := bare([]string{caEnv, "WEFT_TOKEN=weftop_wrong"}, "token", "create", "--service", "x"); ok || !strings.Contains(out, "not the operator token") {
			t.Fatalf("a wrong token: ok=%v\n%s", ok, out)
		}
		// With the token (by file, by env, by flag) it works.
		tokFile := filepath.Join(c.creds, "operator.token")
		for _, env := range [][]string{{caEnv, "WEFT_TOKEN_FILE=" + tokFile}, {caEnv, "WEFT_TOKEN=" + operatorToken(t, c)}} {
			if out, ok := bare(env, "token", "create", "--service", "catalog"); !ok || !strings.Contains(out, ".sha256:") {
				t.Fatalf("token create with %v: ok=%v\n%s", env[1][:10], ok, out)
			}
		}
		if out, ok := bare(nil, "history", "--token-file", tokFile, "--ca-file", filepath.Join(c.creds, "ca.pem")); !ok || !strings.Contains(out, "apply") {
			t.Fatalf("history with --token-file and --ca-file: ok=%v\n%s", ok, out)
		}
	})
}

func operatorToken(t *testing.T, c *cp) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.creds, "operator.token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// call sends one API request and returns the status and body.
func call(t *testing.T, c *http.Client, method, url, body, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, string(b)
}

// svid gets a workload certificate for service the way a sidecar does: a
// join token from weft token create, a CSR, POST /v1/svid.
func svid(t *testing.T, c *cp, service string) tls.Certificate {
	t.Helper()
	tok, err := os.ReadFile(joinTokenFile(t, c.api, service))
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	req, _ := json.Marshal(map[string]string{"csr": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), "token": strings.TrimSpace(string(tok))})
	code, body := call(t, cpHTTP(c.creds), http.MethodPost, "https://"+c.api+"/v1/svid", string(req), "")
	if code != http.StatusOK {
		t.Fatalf("POST /v1/svid: %d %s", code, body)
	}
	var res struct{ Chain string }
	json.Unmarshal([]byte(body), &res)
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	cert, err := tls.X509KeyPair([]byte(res.Chain), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// workloadClient is an API client presenting service's SVID.
func workloadClient(t *testing.T, c *cp, service string) *http.Client {
	t.Helper()
	hc := cpHTTP(c.creds)
	cert := svid(t, c, service)
	hc.Transport.(*http.Transport).TLSClientConfig.Certificates = []tls.Certificate{cert}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

func rssKB(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			return n
		}
	}
	return 0
}

const adsPath = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources"

// discoveryRequest is a DiscoveryRequest{node: {id}, type_url: CDS},
// encoded by hand (field numbers from Envoy's discovery.proto), in a gRPC
// length-prefixed frame.
func discoveryRequest(node string) []byte {
	var nodeMsg []byte
	nodeMsg = protowire.AppendTag(nodeMsg, 1, protowire.BytesType)
	nodeMsg = protowire.AppendString(nodeMsg, node)
	var req []byte
	req = protowire.AppendTag(req, 2, protowire.BytesType)
	req = protowire.AppendBytes(req, nodeMsg)
	req = protowire.AppendTag(req, 4, protowire.BytesType)
	req = protowire.AppendString(req, "type.googleapis.com/envoy.config.cluster.v3.Cluster")
	frame := make([]byte, 5, 5+len(req))
	binary.BigEndian.PutUint32(frame[1:], uint32(len(req)))
	return append(frame, req...)
}

// adsExchange opens streams ADS streams on one TLS connection (with cert
// as client certificate, if any), each sending a hand-made CDS request,
// and returns how many got a response message before the connection was
// closed or went quiet for 3s.
func adsExchange(t *testing.T, c *cp, cert *tls.Certificate, body []byte, streams int) (int, error) {
	t.Helper()
	cfg := cpHTTP(c.creds).Transport.(*http.Transport).TLSClientConfig.Clone()
	cfg.NextProtos = []string{"h2"}
	cfg.ServerName, _, _ = net.SplitHostPort(c.xds)
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	raw, err := net.DialTimeout("tcp", c.xds, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, cfg)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	if err := conn.Handshake(); err != nil {
		return 0, err
	}
	bw := bufio.NewWriter(conn)
	fr := http2.NewFramer(bw, conn)
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "https"}, {":path", adsPath}, {":authority", c.xds}, {"content-type", "application/grpc"}, {"te", "trailers"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	headers := hb.Bytes()

	var mu sync.Mutex
	answered := map[uint32]bool{}
	readDone := make(chan error, 1)
	go func() {
		for {
			conn.SetReadDeadline(time.Now().Add(3 * time.Second))
			f, err := fr.ReadFrame()
			if err != nil {
				readDone <- err
				return
			}
			switch f := f.(type) {
			case *http2.DataFrame:
				if len(f.Data()) > 0 {
					mu.Lock()
					answered[f.StreamID] = true
					mu.Unlock()
				}
			case *http2.GoAwayFrame:
				readDone <- fmt.Errorf("GOAWAY %v", f.ErrCode)
				return
			}
		}
	}()
	var werr error
	var wmu sync.Mutex
	write := func(fn func() error) {
		wmu.Lock()
		defer wmu.Unlock()
		if werr == nil {
			conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
			if werr = fn(); werr == nil {
				werr = bw.Flush()
			}
		}
	}
	write(func() error {
		if _, err := bw.WriteString(http2.ClientPreface); err != nil {
			return err
		}
		if err := fr.WriteSettings(); err != nil {
			return err
		}
		return fr.WriteWindowUpdate(0, 1<<30)
	})
	for i := 0; i < streams && werr == nil; i++ {
		id := uint32(2*i + 1)
		write(func() error {
			if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: headers, EndHeaders: true}); err != nil {
				return err
			}
			return fr.WriteData(id, false, body)
		})
	}
	rerr := <-readDone
	mu.Lock()
	defer mu.Unlock()
	if werr != nil {
		return len(answered), fmt.Errorf("write: %v; read: %v", werr, rerr)
	}
	return len(answered), rerr
}

// adsPlain sends the ADS request as h2c (no TLS) and returns how many
// bytes came back.
func adsPlain(t *testing.T, addr string) (int, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	var b bytes.Buffer
	fr := http2.NewFramer(&b, nil)
	b.WriteString(http2.ClientPreface)
	fr.WriteSettings()
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", adsPath}, {":authority", addr}, {"content-type", "application/grpc"}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: hb.Bytes(), EndHeaders: true})
	fr.WriteData(1, false, discoveryRequest("rogue-plain"))
	conn.Write(b.Bytes())
	got, err := io.ReadAll(conn)
	// A TLS server answers a non-TLS client with at most an alert record.
	if len(got) > 0 && got[0] == 0x15 {
		return 0, err
	}
	return len(got), err
}

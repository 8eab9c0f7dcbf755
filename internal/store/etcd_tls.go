package store

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// EtcdTLS is how the control plane authenticates to an external etcd
// cluster and checks it: the files etcd's own clients take (etcdctl's
// --cacert, --cert, --key; kube-apiserver's --etcd-cafile, --etcd-certfile,
// --etcd-keyfile). The zero value dials in plaintext.
type EtcdTLS struct {
	// CAFile is a PEM bundle of the CAs etcd's serving certificate must
	// chain to. Default: the system's roots (for https:// endpoints).
	CAFile string
	// CertFile and KeyFile are the client certificate and its key, PEM,
	// for a cluster started with --client-cert-auth. Both or neither.
	CertFile, KeyFile string
}

// Enabled reports whether any TLS setting is given.
func (t EtcdTLS) Enabled() bool { return t.CAFile != "" || t.CertFile != "" || t.KeyFile != "" }

// Config loads the files into a client tls.Config; errors name the file.
func (t EtcdTLS) Config() (*tls.Config, error) {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return nil, errors.New("etcd TLS: a client certificate needs both the certificate and the key file")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd TLS: CA file %s: no PEM certificate in it", t.CAFile)
		}
		cfg.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("etcd TLS: client certificate %s and key %s: %w", t.CertFile, t.KeyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

package controlplane

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// The config document is stored gzipped: resource JSON compresses about
// tenfold, which keeps a mesh of tens of thousands of resources inside
// etcd's request limit (1.5 MB by default) as one atomic key.
const (
	// maxStoredBytes is what one write may hold: under the default etcd
	// limit of 1.5 MiB, with room for the request's envelope.
	maxStoredBytes = 1400 << 10
	// maxDocBytes bounds a document once decompressed.
	maxDocBytes = 256 << 20
	// decodeBatch is how many stored resources go to one mesh.Decode call,
	// which caps a single input.
	decodeBatch = 1000
)

var gzipMagic = []byte{0x1f, 0x8b}

func encodeDoc(doc *configDoc) ([]byte, error) {
	raw, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(raw)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	if buf.Len() > maxStoredBytes {
		return nil, fmt.Errorf("the config would take %d KiB compressed, over the store's %d KiB per write: split the mesh or raise etcd's --max-request-bytes and this limit", buf.Len()>>10, maxStoredBytes>>10)
	}
	return buf.Bytes(), nil
}

// decodeDocBytes reads a stored document, gzipped or (as written before
// compression) plain JSON.
func decodeDocBytes(b []byte, doc *configDoc) error {
	if !bytes.HasPrefix(b, gzipMagic) {
		return json.Unmarshal(b, doc)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxDocBytes+1))
	if err != nil {
		return err
	}
	if len(raw) > maxDocBytes {
		return errors.New("stored config larger than its cap when decompressed")
	}
	return json.Unmarshal(raw, doc)
}

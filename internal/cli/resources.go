//go:build !proxyonly

package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/weft-mesh/weft/internal/mesh"
	"github.com/weft-mesh/weft/internal/xds/local"
)

// Caps on a --resources directory: beyond them it is a mistake, not a mesh
// one sidecar serves itself.
const (
	maxResourceFiles = 1000
	maxResourceBytes = 64 << 20 // all files together
)

// loadResources reads the mesh resources of dir (or of one file) with the
// decoder and validator `weft apply` uses, and checks what no single
// resource can: a name defined twice, a reference to a Service or subset
// that is not there, two routes claiming one match. Every error names its
// file, the resource (Kind/namespace/name) and the field path, and all are
// reported at once.
func loadResources(dir string) ([]mesh.Resource, error) {
	files, err := manifestFiles(dir)
	if err != nil {
		return nil, fmt.Errorf("resources: %w", err)
	}
	if len(files) > maxResourceFiles {
		return nil, fmt.Errorf("resources %s: more than %d files", dir, maxResourceFiles)
	}
	var all []mesh.Resource
	var errs []error
	fileOf := map[string]string{} // resource key -> file
	total := 0
	for _, f := range files {
		rs, n, err := loadResourceFile(f)
		total += n
		if total > maxResourceBytes {
			return nil, fmt.Errorf("resources %s: larger than %d bytes in all", dir, maxResourceBytes)
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, r := range rs {
			k := mesh.Key(r)
			if prev, dup := fileOf[k]; dup {
				errs = append(errs, fmt.Errorf("%s: %s: also defined in %s", f, k, prev))
				continue
			}
			fileOf[k] = f
			all = append(all, r)
		}
	}
	if len(errs) == 0 {
		for _, p := range mesh.CheckReferences(all) {
			errs = append(errs, fmt.Errorf("%s: %s", fileOf[p.Resource], p))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

// checkResources validates dir as --resources would serve it.
func checkResources(dir string) error {
	rs, err := loadResources(dir)
	if err != nil {
		return err
	}
	return local.Check(rs)
}

// loadResourceFile decodes one file; it returns the bytes read, for the
// directory's cap.
func loadResourceFile(path string) ([]mesh.Resource, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestBytes+1))
	if err != nil {
		return nil, len(data), fmt.Errorf("%s: %w", path, err)
	}
	docs, err := yamlDocs(path, data)
	if err != nil {
		return nil, len(data), err
	}
	if len(docs) == 0 {
		return nil, len(data), nil
	}
	js, err := body(docs)
	if err != nil {
		return nil, len(data), fmt.Errorf("%s: %w", path, err)
	}
	rs, err := mesh.Decode(js)
	if err != nil {
		// Every problem with its file, line, kind/name and field path,
		// as weft apply reports them.
		if lerr := locate(docs); lerr != nil {
			return nil, len(data), lerr
		}
		var lines []string
		for _, e := range unjoin(err) {
			lines = append(lines, path+": "+e.Error())
		}
		return nil, len(data), errors.New(strings.Join(lines, "\n"))
	}
	return rs, len(data), nil
}

// unjoin lists the errors an errors.Join holds, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

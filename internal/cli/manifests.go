package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// maxManifestBytes caps what apply reads.
const maxManifestBytes = 4 << 20

// readManifests reads resources from a file, every .yaml/.yml/.json file
// of a directory, or stdin ("-"), and returns them as one JSON array, the
// form the API takes. YAML may hold several documents.
func readManifests(path string, stdin io.Reader) ([]byte, error) {
	var docs []any
	add := func(name string, data []byte) error {
		ds, err := yamlDocs(data)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		docs = append(docs, ds...)
		return nil
	}
	switch {
	case path == "-":
		data, err := io.ReadAll(io.LimitReader(stdin, maxManifestBytes+1))
		if err != nil {
			return nil, fmt.Errorf("stdin: %w", err)
		}
		if err := add("stdin", data); err != nil {
			return nil, err
		}
	default:
		files, err := manifestFiles(path)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				return nil, err
			}
			if err := add(f, data); err != nil {
				return nil, err
			}
		}
	}
	if len(docs) == 0 {
		return nil, errors.New("no resources found")
	}
	return json.Marshal(docs)
}

// manifestFiles is path itself, or for a directory its .yaml, .yml and
// .json files (not subdirectories) in name order.
func manifestFiles(path string) ([]string, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return []string{path}, nil
	}
	entries, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	var files []string
	for _, e := range entries {
		switch strings.ToLower(filepath.Ext(e.Name())) {
		case ".yaml", ".yml", ".json":
			if !e.IsDir() {
				files = append(files, filepath.Join(path, e.Name()))
			}
		}
	}
	sort.Strings(files)
	return files, nil
}

// yamlDocs splits YAML (or JSON, a subset) into documents; a List's items
// are flattened.
func yamlDocs(data []byte) ([]any, error) {
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxManifestBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if v == nil {
			continue
		}
		if m, ok := v.(map[string]any); ok && m["kind"] == "List" {
			if items, ok := m["items"].([]any); ok {
				out = append(out, items...)
				continue
			}
		}
		if items, ok := v.([]any); ok {
			out = append(out, items...)
			continue
		}
		out = append(out, v)
	}
}

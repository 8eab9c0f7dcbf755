package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/weft-mesh/weft/internal/mesh"
)

// maxManifestBytes caps what apply reads.
const maxManifestBytes = 4 << 20

// manifest is one resource as read, with where it came from, so errors
// can point at the file and line.
type manifest struct {
	file  string
	node  *yaml.Node // the resource's node, to find a field's line
	value any
}

// readManifests reads resources from a file, every .yaml/.yml/.json file
// of a directory, or stdin ("-"). YAML may hold several documents.
func readManifests(path string, stdin io.Reader) ([]manifest, error) {
	var docs []manifest
	add := func(name string, data []byte) error {
		ds, err := yamlDocs(name, data)
		docs = append(docs, ds...)
		return err
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
	return docs, nil
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

// body renders manifests as the JSON array the API takes.
func body(docs []manifest) ([]byte, error) {
	vs := make([]any, len(docs))
	for i, d := range docs {
		vs[i] = d.value
	}
	b, err := json.Marshal(vs)
	if err != nil {
		return nil, fmt.Errorf("encode resources: %w", err)
	}
	return b, nil
}

// yamlDocs splits YAML (or JSON, a subset) into resources; a List's items
// and a top-level list are flattened.
func yamlDocs(name string, data []byte) ([]manifest, error) {
	if len(data) > maxManifestBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", name, maxManifestBytes)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []manifest
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, yamlError(name, err)
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		var items []*yaml.Node
		switch {
		case root.Kind == yaml.SequenceNode:
			items = root.Content
		case root.Kind == yaml.MappingNode && lookup(root, "kind") != nil && lookup(root, "kind").Value == "List":
			if l := lookup(root, "items"); l != nil && l.Kind == yaml.SequenceNode {
				items = l.Content
			}
		default:
			items = []*yaml.Node{root}
		}
		for _, n := range items {
			var v any
			if err := n.Decode(&v); err != nil {
				return nil, fmt.Errorf("%s:%d: %w", name, n.Line, err)
			}
			if v == nil {
				continue
			}
			out = append(out, manifest{file: name, node: n, value: v})
		}
	}
}

var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError names the file and fixes the line: for a parser error yaml.v3
// prints the zero-based line of the construct it was in (the line before
// the one at fault); scanner errors it prints right.
func yamlError(name string, err error) error {
	m := yamlLine.FindStringSubmatch(err.Error())
	if m == nil {
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	line, _ := strconv.Atoi(m[1])
	switch m[2] {
	case "did not find expected key", "did not find expected '-' indicator",
		"did not find expected ',' or ']'", "did not find expected ',' or '}'",
		"did not find expected node content", "did not find expected <document start>":
		line++
	}
	return fmt.Errorf("%s:%d: %s", name, line, m[2])
}

// lookup returns a mapping node's value for key.
func lookup(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// lineOf finds the line of a field path such as spec.ports[0].protocl
// in a resource's node, or the deepest part of it that exists.
func lineOf(n *yaml.Node, path string) int {
	line := n.Line
	for _, part := range strings.Split(path, ".") {
		if part == "" {
			break
		}
		name, idx, _ := strings.Cut(part, "[")
		if name != "" {
			if n.Kind != yaml.MappingNode {
				break
			}
			var key *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					key, n = n.Content[i], n.Content[i+1]
					break
				}
			}
			if key == nil {
				break
			}
			line = key.Line
		}
		for idx != "" {
			var s string
			s, idx, _ = strings.Cut(idx, "]")
			idx = strings.TrimPrefix(idx, "[")
			i, err := strconv.Atoi(s)
			if err != nil || n.Kind != yaml.SequenceNode || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		}
	}
	return line
}

// locate checks each manifest as the control plane does and returns every
// problem with the file and line of the field at fault, or nil when it
// finds none (the control plane's answer then stands).
func locate(docs []manifest) error {
	var lines []string
	for _, d := range docs {
		raw, err := json.Marshal(d.value)
		if err != nil {
			lines = append(lines, fmt.Sprintf("%s:%d: %v", d.file, d.node.Line, err))
			continue
		}
		_, key, problems := mesh.DecodeItem(raw)
		if key != "" {
			key += ": "
		}
		for _, p := range problems {
			lines = append(lines, fmt.Sprintf("%s:%d: %s%s", d.file, lineOf(d.node, p.Path), key, p))
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return fmt.Errorf("refused: %d problem(s), nothing changed\n  %s", len(lines), strings.Join(lines, "\n  "))
}

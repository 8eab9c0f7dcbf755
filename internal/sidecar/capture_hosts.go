package sidecar

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// hostsHeader keeps the names every system resolves locally.
const hostsHeader = `# Written by weft (transparent capture): mesh services resolve to virtual
# IPs, which the sidecar routes; rewritten whenever the mesh changes.
127.0.0.1	localhost
::1	localhost ip6-localhost ip6-loopback
`

// renderHosts is the hosts file for entries (sorted by their virtual
// host's name, so equal meshes give equal files).
func renderHosts(entries []*vipEntry) []byte {
	var b bytes.Buffer
	b.WriteString(hostsHeader)
	for _, e := range entries {
		fmt.Fprintf(&b, "%s\t%s\n", e.addr, strings.Join(e.names, " "))
	}
	return b.Bytes()
}

// writeInPlace replaces path's content without replacing the file: the
// app's /etc/hosts is a bind mount of it, which keeps pointing at the
// inode it was made on, so a rename would go unseen. The new content is
// written over the old, then the file is cut to its length; a reader in
// between may see a mixed file for that instant, and reads it again on
// its next lookup.
func writeInPlace(path string, data []byte) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteAt(data, 0); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

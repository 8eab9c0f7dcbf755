package mesh

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// FieldError is one invalid field: its path and the reason.
type FieldError struct {
	Path   string
	Reason string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Reason
	}
	return e.Path + ": " + e.Reason
}

// errs collects every field error of a resource.
type errs []error

func (v *errs) add(path, format string, args ...any) {
	*v = append(*v, &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)})
}

// unsupported refuses a field Weft accepts in shape but does not enforce
// yet: an accepted field that does nothing would be a silent lie.
func (v *errs) unsupported(path, why string, args ...any) {
	reason := NotSupported
	if why != "" {
		reason += " (" + fmt.Sprintf(why, args...) + ")"
	}
	*v = append(*v, &FieldError{Path: path, Reason: reason})
}

// NotSupported is the reason given for fields refused because Weft does
// not enforce them yet.
const NotSupported = "not supported yet"

func (v errs) err() error { return errors.Join(v...) }

func field(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// maxList caps every list in a resource.
const maxList = 1000

var (
	labelRE = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$`)
	nameRE  = regexp.MustCompile(`^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$`)
)

func dnsLabel(s string) bool { return labelRE.MatchString(s) }
func dnsName(s string) bool  { return len(s) <= 253 && nameRE.MatchString(s) }

func defaultMeta(m *ObjectMeta) {
	if m.Namespace == "" {
		m.Namespace = "default"
	}
}

func validateMeta(v *errs, m *ObjectMeta) {
	if !dnsLabel(m.Name) {
		v.add("metadata.name", "must be a DNS-1123 label; got %q", m.Name)
	}
	if !dnsLabel(m.Namespace) {
		v.add("metadata.namespace", "must be a DNS-1123 label; got %q", m.Namespace)
	}
}

func checkPort(v *errs, path string, p int32) {
	if p < 1 || p > 65535 {
		v.add(path, "must be 1..65535; got %d", p)
	}
}

// checkDuration accepts "" (unset) or a positive Go duration up to a day.
func checkDuration(v *errs, path, s string) {
	if s == "" {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 || d > 24*time.Hour {
		v.add(path, "must be a duration such as 500ms or 10s, at most 24h; got %q", s)
	}
}

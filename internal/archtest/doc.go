// Package archtest enforces the import rules of DESIGN.md with `go list -deps`,
// so the architecture stays visible as the code grows.
package archtest

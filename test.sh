#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine with Go installed:
# installs what the tests need, checks formatting and vet, then runs unit
# tests with the race detector and the end-to-end tests against the real binary.
set -euo pipefail
cd "$(dirname "$0")"
export PATH="$PATH:/usr/local/go/bin:/usr/sbin"

if [ -x scripts/install-deps.sh ]; then
  scripts/install-deps.sh
fi

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...
# the sidecar-only build (-tags proxyonly) must keep compiling
go vet -tags proxyonly ./cmd/... ./internal/cli/...

echo "== staticcheck"
# pinned in go.mod's tool block, so every machine runs the same checks
go tool staticcheck ./...
go tool staticcheck -tags proxyonly ./cmd/... ./internal/cli/...

echo "== unit and integration tests (race detector)"
go test -race -count=1 -timeout 8m ./internal/... ./demo/...

if [ -d test/e2e ]; then
  echo "== end-to-end tests (real binary, real sockets)"
  go test -count=1 -timeout 12m ./test/e2e/...
fi

#!/usr/bin/env bash
# Side-by-side proxy benchmark on loopback: direct, nginx, haproxy, Go's
# ReverseProxy, caddy and weft (pooled HTTP/1.1 between hops, and multiplexed
# HTTP/2 between hops), one and two hops, at -c32 and -c1, via the shared
# harness (../shared/bench/run.sh installs nginx, haproxy, wrk and caddy with
# apt). Then the request-path microbenchmarks with -benchmem.
#
# usage: bench/run.sh [-d SECS] [-r REPS] [harness flags...]
# Results: the harness prints a table; raw TSV under $OUT (default /tmp/weft-bench/...).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="${SHARED:-$root/../shared}"
[ -x "$shared/bench/run.sh" ] || { echo "shared harness not found at $shared/bench/run.sh (set SHARED=)" >&2; exit 1; }
bindir="$(mktemp -d)"
trap 'rm -rf "$bindir"' EXIT
# The sidecar-only build: what a sidecar image ships (the control plane's
# packages would cost every sidecar resident memory at init).
(cd "$root" && go build -tags proxyonly -o "$bindir/weft" ./cmd/weft)

"$shared/bench/run.sh" --workers "${WORKERS:-1}" "$@" \
  --extra "weft=$bindir/weft proxy --listen {LISTEN} --upstream {UPSTREAM}" \
  --extra "weft-h2mux=$here/h2hop.sh $bindir/weft {LISTEN} {UPSTREAM_PORT}"

echo
echo "== microbenchmarks"
(cd "$root" && go test -run '^$' -bench . -benchmem -count 3 ./internal/proxy/... ./internal/telemetry/...)

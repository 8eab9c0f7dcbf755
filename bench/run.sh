#!/usr/bin/env bash
# Side-by-side proxy benchmark on loopback: direct, nginx, haproxy, Go's
# ReverseProxy, caddy and weft (pooled HTTP/1.1 between hops, and multiplexed
# HTTP/2 between hops), one and two hops, at -c32 and -c1, via the shared
# harness (../shared/bench/run.sh installs nginx, haproxy, wrk and caddy with
# apt). The mesh rows run real mesh sidecars under a control plane:
# weft-mesh (plaintext into a PERMISSIVE inbound) and weft-mtls (client ->
# sidecar A -> mTLS -> sidecar B -> backend); bench/mtlsreport.py prints the
# mTLS/plaintext CPU ratios and handshakes against connections and requests.
# Then the request-path microbenchmarks with -benchmem.
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

# The mesh rows (bench/mtlshop.sh) need a control plane for certificates
# and for the mTLS cluster: the full build runs it.
(cd "$root" && go build -o "$bindir/weft-full" ./cmd/weft)
export BENCH_XDS=127.0.0.1:19990 BENCH_API=127.0.0.1:19991
export WEFT_SERVER=$BENCH_API WEFT_CA_FILE="$bindir/cp/ca.pem" WEFT_TOKEN_FILE="$bindir/cp/operator.token"
"$bindir/weft-full" control --data-dir "$bindir/cp" --xds "$BENCH_XDS" --api "$BENCH_API" --log-level error 2>"$bindir/cp.log" &
cppid=$!
trap 'kill $cppid 2>/dev/null; wait $cppid 2>/dev/null; rm -rf "$bindir"' EXIT
for _ in $(seq 300); do curl -fs --cacert "$WEFT_CA_FILE" "https://$BENCH_API/v1/bundle" >/dev/null 2>&1 && break; sleep 0.1; done
for svc in bench-mtls-up bench-plain-up; do
  printf 'apiVersion: weft.dev/v1alpha1\nkind: Service\nmetadata: {name: %s}\nspec: {ports: [{port: 80}]}\n' "$svc" |
    "$bindir/weft-full" apply -f - >/dev/null
done
export OUT="${OUT:-${TMPDIR:-/tmp}/weft-bench/$(date +%Y%m%d-%H%M%S)}"

"$shared/bench/run.sh" --workers "${WORKERS:-1}" "$@" \
  --extra "weft=$bindir/weft proxy --listen {LISTEN} --upstream {UPSTREAM}" \
  --extra "weft-h2mux=$here/h2hop.sh $bindir/weft {LISTEN} {UPSTREAM_PORT}" \
  --extra "weft-mesh=$here/mtlshop.sh plain $bindir/weft $bindir/weft-full {LISTEN_PORT} {UPSTREAM_PORT} {DIR}" \
  --extra "weft-mtls=$here/mtlshop.sh mtls $bindir/weft $bindir/weft-full {LISTEN_PORT} {UPSTREAM_PORT} {DIR}"

echo
echo "== mTLS two-hop against plaintext (same run)"
python3 "$here/mtlsreport.py" "$OUT"

echo
echo "== microbenchmarks"
(cd "$root" && go test -run '^$' -bench . -benchmem -count 3 ./internal/proxy/... ./internal/telemetry/...)

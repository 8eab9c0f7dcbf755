#!/usr/bin/env bash
# Sidecar memory against mesh size: a control plane holding N services (each
# with 3 static endpoints), and two sidecars (the -tags proxyonly build): one
# declaring the one service it calls (controlPlane.services), one taking the
# whole mesh. Prints each sidecar's RSS once it has ACKed the config.
# usage: bench/ondemand.sh [N...]   (default: 10 1000 5000)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
(cd "$root" && go build -o "$work/weft" ./cmd/weft && go build -tags proxyonly -o "$work/weft-proxy" ./cmd/weft)
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
port=26000
printf "%-8s %-22s %-22s\n" services "scoped sidecar RSS" "whole-mesh sidecar RSS"
for n in "${@:-10 1000 5000}"; do
  for n1 in $n; do
    port=$((port + 10))
    xds=127.0.0.1:$port api=127.0.0.1:$((port + 1))
    "$work/weft" control --data-dir "$work/data-$n1" --xds "$xds" --api "$api" --log-level error 2>"$work/cp.log" &
    pids+=($!)
    # security is on: the CLI and the sidecars use the control plane's CA
    # and operator token, and each sidecar a join token.
    export WEFT_CA_FILE="$work/data-$n1/ca.pem" WEFT_TOKEN_FILE="$work/data-$n1/operator.token"
    for _ in $(seq 100); do curl -fs --cacert "$WEFT_CA_FILE" "https://$api/v1/bundle" >/dev/null 2>&1 && break; sleep 0.1; done
    # one apply holds at most 1,000 resources
    for start in $(seq 0 1000 $((n1 - 1))); do
      python3 - "$start" "$n1" > "$work/mesh.json" <<'PY'
import json, sys
lo, n = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps([{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "svc-%d" % i},
  "spec": {"ports": [{"port": 80}], "endpoints": [{"address": "10.%d.%d.%d" % (i // 65536 % 256, i // 256 % 256, i % 256), "port": 8000 + j} for j in range(3)]}}
  for i in range(lo, min(lo + 1000, n))]))
PY
      WEFT_SERVER=$api "$work/weft" apply -f "$work/mesh.json" >/dev/null
    done
    for kind in scoped all; do
      svc=""; [ "$kind" = scoped ] && svc="services: [svc-0], "
      WEFT_SERVER=$api "$work/weft" token create --service "$kind" > "$work/$kind.token" 2>/dev/null
      cat > "$work/$kind.yaml" <<YAML
node: $kind-$n1
admin: off
outbound: {proxy: 127.0.0.1:0}
controlPlane: {${svc}xds: [$xds], api: [$api], caFile: $WEFT_CA_FILE}
identity: {tokenFile: $work/$kind.token}
YAML
      "$work/weft-proxy" proxy --config "$work/$kind.yaml" 2>"$work/$kind.log" &
      pids+=($!)
      eval "pid_$kind=$!"
    done
    for _ in $(seq 300); do
      [ "$(WEFT_SERVER=$api "$work/weft" get proxies 2>/dev/null | grep -c SYNCED)" = 2 ] && break
      sleep 0.1
    done
    sleep 2 # let both settle after applying
    printf "%-8s %-22s %-22s\n" "$n1" "$(rss "$pid_scoped") kB" "$(rss "$pid_all") kB"
    kill "$pid_scoped" "$pid_all" "${pids[0]}" 2>/dev/null || true
    wait 2>/dev/null || true
    pids=()
  done
done

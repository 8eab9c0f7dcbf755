#!/usr/bin/env bash
# The sidecar-only build's resident memory, idle and after load, in quick
# mode and in control-plane mode (a weft control with 5 services whose
# endpoints all point at one local upstream).
# usage: bench/sidecar-rss.sh WEFT_PROXYONLY_BINARY [REQUESTS]
#   WEFT_FULL (env): the full binary that runs `weft control`; built here when unset.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$1"; n="${2:-20000}"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
(cd "$root" && go build -o "$work/rssload" ./bench/rssload)
full="${WEFT_FULL:-}"
if [ -z "$full" ]; then (cd "$root" && go build -o "$work/weft" ./cmd/weft); full="$work/weft"; fi
mem() { awk '/VmRSS|VmHWM/ {printf "%s %.1f MB  ", $1, $2/1024}' "/proc/$1/status"; }
waitport() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
up=127.0.0.1:27001
"$work/rssload" -serve "$up" & pids+=($!)
waitport "$up"

# Quick mode: one listener, one upstream.
"$bin" proxy --listen 127.0.0.1:27002 --upstream "$up" --log-level error & pid=$!; pids+=($pid)
waitport 127.0.0.1:27002; sleep 1.5
echo "quick idle:          $(mem $pid)"
"$work/rssload" -url http://127.0.0.1:27002/ -n "$n"
echo "quick after $n:  $(mem $pid)"

# Control-plane mode.
xds=127.0.0.1:27010 api=127.0.0.1:27011
"$full" control --data-dir "$work/data" --xds "$xds" --api "$api" --log-level error 2>"$work/cp.log" & pids+=($!)
# security is on: the CLI and the sidecar use the control plane's CA and
# operator token, and the sidecar a join token.
export WEFT_CA_FILE="$work/data/ca.pem" WEFT_TOKEN_FILE="$work/data/operator.token"
for _ in $(seq 100); do curl -fs --cacert "$WEFT_CA_FILE" "https://$api/v1/bundle" >/dev/null 2>&1 && break; sleep 0.1; done
python3 - > "$work/mesh.json" <<'PY'
import json
print(json.dumps([{"apiVersion": "weft.dev/v1alpha1", "kind": "Service", "metadata": {"name": "svc-%d" % i},
  "spec": {"ports": [{"port": 80}], "endpoints": [{"address": "127.0.0.1", "port": 27001}]}} for i in range(5)]))
PY
WEFT_SERVER=$api "$full" apply -f "$work/mesh.json" >/dev/null
WEFT_SERVER=$api "$full" token create --service rss > "$work/rss.token" 2>/dev/null
cat > "$work/sidecar.yaml" <<YAML
node: rss
admin: off
outbound: {proxy: 127.0.0.1:27020}
controlPlane: {xds: [$xds], api: [$api], caFile: $WEFT_CA_FILE}
identity: {tokenFile: $work/rss.token}
YAML
"$bin" proxy --config "$work/sidecar.yaml" --log-level error & pid=$!; pids+=($pid)
for _ in $(seq 200); do
  WEFT_SERVER=$api "$full" get proxies 2>/dev/null | grep -q SYNCED && break
  sleep 0.1
done
sleep 1.5
echo "control-plane idle:  $(mem $pid)"
"$work/rssload" -proxy 127.0.0.1:27020 -url http://svc-0/ -n "$n"
echo "control-plane after $n: $(mem $pid)"

#!/usr/bin/env bash
# One sidecar of the harness's mesh rows (bench/run.sh starts the control
# plane and exports BENCH_XDS, BENCH_API, WEFT_SERVER, WEFT_CA_FILE and
# WEFT_TOKEN_FILE). The harness starts it twice per row:
#   hop 1 (upstream = the backend): a mesh sidecar with an identity whose
#     PERMISSIVE inbound on LISTEN forwards to the backend; it registers as
#     service bench-MODE-up. Alone (the 1-hop row) it is plaintext to that
#     inbound.
#   hop 2 (upstream = hop 1): MODE=mtls: a sidecar with an identity whose
#     outbound port LISTEN routes to bench-mtls-up through the control
#     plane's cluster, dialled with mTLS (so client -> A -> mTLS -> B ->
#     backend); MODE=plain: the quick-mode sidecar (as the "weft" row),
#     plaintext to the same inbound.
# The script stays the measured parent: the harness counts its direct
# children's CPU, and on SIGTERM it saves the sidecar's /metrics to
# DIR/metrics.txt (handshakes, connections, requests) before stopping it.
# usage: mtlshop.sh mtls|plain WEFT_PROXYONLY WEFT_FULL LISTEN_PORT UPSTREAM_PORT DIR
set -uo pipefail
mode=$1 weft=$2 full=$3 lport=$4 uport=$5 dir=$6
svc=bench-$mode-up
admin=127.0.0.1:$((lport + 1000))
cp="controlPlane: {xds: [$BENCH_XDS], api: [$BENCH_API], caFile: $WEFT_CA_FILE, cacheDir: $dir/cache}"
child=""
run() { "$weft" proxy --config "$1" --log-level warn & child=$!; }
stop() { [ -n "$child" ] && kill "$child" 2>/dev/null; wait "$child" 2>/dev/null; child=""; }
ready() { # ready URL: wait up to 30 s for a 200
  for _ in $(seq 300); do curl -sf -o /dev/null --max-time 1 "$1" && return 0; sleep 0.1; done
  echo "mtlshop: $1 never answered 200" >&2; return 1
}
token() { "$full" token create --service "$1" --uses 1 > "$dir/$1.token" 2>/dev/null || { echo "mtlshop: token create failed" >&2; exit 1; }; }

if [ "$uport" = "${BACKEND_PORT:-19000}" ]; then
  token "$svc"
  cat > "$dir/sidecar.yaml" <<YAML
node: $svc-1
service: $svc
admin: $admin
identity: {tokenFile: $dir/$svc.token}
inbound: [{name: http, listen: 127.0.0.1:$lport, app: 127.0.0.1:$uport, mtls: PERMISSIVE}]
register: {probe: {interval: 1s}}
$cp
YAML
elif [ "$mode" = plain ]; then
  "$weft" proxy --listen "127.0.0.1:$lport" --upstream "127.0.0.1:$uport" & child=$!
else
  token bench-mtls-front
  # Warm-up on a side port until a request crosses the mTLS hop: the
  # config and certificate land in cacheDir, so the measured sidecar
  # routes from its first request (the harness probes the port at once).
  ready "http://127.0.0.1:$((uport + 1000))/ready" || exit 1
  for port in $((lport + 2000)) "$lport"; do
    cat > "$dir/sidecar.yaml" <<YAML
node: bench-mtls-front-1
service: bench-mtls-front
admin: $admin
identity: {tokenFile: $dir/bench-mtls-front.token}
outbound: {ports: [{listen: 127.0.0.1:$port, service: $svc}]}
$cp
YAML
    [ "$port" = "$lport" ] && break
    run "$dir/sidecar.yaml"
    ready "http://127.0.0.1:$port/" || { stop; exit 1; }
    stop
  done
fi
[ -z "$child" ] && run "$dir/sidecar.yaml"
trap 'curl -s --max-time 2 "http://$admin/metrics" > "$dir/metrics.txt"; stop; exit 0' TERM INT
wait "$child"

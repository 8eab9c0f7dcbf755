#!/usr/bin/env bash
# RELIABILITY.md T8 (HTTP/2 rapid reset), each party its own process:
# an h2c upstream, `weft proxy` in quick mode (--upstream-protocol http2), a
# victim sending sequential h2c GETs through it, and an attacker sending
# HEADERS+RST_STREAM pairs (up to 100k per connection, redialling after each
# GOAWAY) for ATTACK seconds, then ALONE seconds with no victim. Prints the
# victim's latency before and during the attack, the sidecar's CPU over each
# phase (utime+stime from /proc/PID/stat), the attacker's GOAWAY times and
# what reached the upstream.
#
#   bench/rapidreset.sh [runs]
#
# Env: ATTACK (s, default 5), BASE (s, default 3), ALONE (s of attack with
# no victim, default 3), PIN_ATTACKER (a CPU list for taskset, default 1;
# empty to leave it unpinned), PIN_REST (a CPU list for the sidecar,
# upstream and victim, default empty: unpinned), PROFILE (a file: a CPU
# profile of the sidecar during the attack of the first run), WEFT (a
# prebuilt binary; default: go build -tags proxyonly).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
attack_s=${ATTACK:-5}
base_s=${BASE:-3}
alone_s=${ALONE:-3}
pin=${PIN_ATTACKER-1}
rest=${PIN_REST:-}
tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

weft=${WEFT:-$tmp/weft}
[ -n "${WEFT:-}" ] || go build -tags proxyonly -o "$weft" ./cmd/weft
go build -o "$tmp/rr" ./bench/rapidreset
tck=$(getconf CLK_TCK)
cpu() { awk -v t="$tck" '{printf "%.3f", ($14+$15)/t}' "/proc/$1/stat"; }
freeport() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
pinned() { if [ -n "$pin" ]; then exec taskset -c "$pin" "$@"; else exec "$@"; fi; }
others() { if [ -n "$rest" ]; then exec taskset -c "$rest" "$@"; else exec "$@"; fi; }

for run in $(seq "$runs"); do
	others "$tmp/rr" upstream -listen 127.0.0.1:0 >"$tmp/up.out" &
	up=$!
	pids+=("$up")
	for _ in $(seq 50); do [ -s "$tmp/up.out" ] && break; sleep 0.1; done
	upaddr=$(head -1 "$tmp/up.out")
	port=$(freeport) admin=$(freeport)
	others "$weft" proxy --listen "127.0.0.1:$port" --upstream "$upaddr" --upstream-protocol http2 \
		--admin "127.0.0.1:$admin" --log-level error 2>"$tmp/weft.err" &
	wp=$!
	pids+=("$wp")
	for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done

	c0=$(cpu "$wp") t0=$(date +%s.%N)
	basel=$(others "$tmp/rr" victim -addr "127.0.0.1:$port" -d "${base_s}s")
	c1=$(cpu "$wp") t1=$(date +%s.%N)
	pinned "$tmp/rr" attack -addr "127.0.0.1:$port" -d "${attack_s}s" >"$tmp/attack.out" &
	ap=$!
	sleep 0.2 # the attack is running before the victim starts measuring
	if [ -n "${PROFILE:-}" ] && [ "$run" = 1 ]; then
		curl -s -o "$PROFILE" "http://127.0.0.1:$admin/debug/pprof/profile?seconds=$((attack_s - 1))" &
	fi
	during=$(others "$tmp/rr" victim -addr "127.0.0.1:$port" -d "$((attack_s - 1))s")
	wait "$ap"
	c2=$(cpu "$wp") t2=$(date +%s.%N)
	# The victim's requests cost the sidecar CPU too: the attack alone
	# shows what the attacker costs (the attack keeps going, so a
	# penalised address stays penalised).
	(pinned "$tmp/rr" attack -addr "127.0.0.1:$port" -d "${alone_s}s") >"$tmp/alone.out"
	c3=$(cpu "$wp") t3=$(date +%s.%N)
	kill "$up"
	wait "$up" || true
	kill "$wp"
	wait "$wp" || true

	p99() { sed -n 's/.*p99=\([0-9.]*\).*/\1/p' <<<"$1"; }
	echo "run $run"
	echo "  baseline: $basel   sidecar cpu $(awk -v a="$c0" -v b="$c1" -v d="$(echo "$t1 - $t0" | bc)" 'BEGIN{printf "%.2f s over %.1f s = %.2f cores", b-a, d, (b-a)/d}')"
	echo "  attack:   $during   sidecar cpu $(awk -v a="$c1" -v b="$c2" -v d="$(echo "$t2 - $t1" | bc)" 'BEGIN{printf "%.2f s over %.1f s = %.2f cores", b-a, d, (b-a)/d}')"
	echo "  attack alone: sidecar cpu $(awk -v a="$c2" -v b="$c3" -v d="$(echo "$t3 - $t2" | bc)" 'BEGIN{printf "%.2f s over %.1f s = %.2f cores", b-a, d, (b-a)/d}')   $(cat "$tmp/alone.out")"
	echo "  p99 ratio: $(awk -v a="$(p99 "$basel")" -v b="$(p99 "$during")" 'BEGIN{printf "%.2f", b/a}')"
	echo "  $(cat "$tmp/attack.out")"
	echo "  $(tail -1 "$tmp/up.out")"
	pids=()
done

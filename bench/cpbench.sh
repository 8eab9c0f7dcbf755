#!/usr/bin/env bash
# Control-plane push benchmark, side by side: the go-control-plane v0.14.0
# anchor (../shared/cpbench/server) and Weft's ADS server
# (bench/cpbench/server), each serving 100 services to N simulated proxies on
# 127.0.0.1, both measured by the anchor's own, unmodified client.
#
# usage: bench/cpbench.sh N [eds|all] [client flags...]
#   e.g. bench/cpbench.sh 10000 eds -pushes 5
# Env: SHARED (default ../shared), OUT (results; default
# ${TMPDIR:-/tmp}/weft-cpbench/<date>), ORDER ("anchor weft" by default;
# the machine is shared, so run both back to back and compare ratios),
# QUIET_WAIT (seconds to wait for an idle machine before each server).
set -euo pipefail
N=${1:?usage: bench/cpbench.sh N [eds|all] [client flags...]}
KIND=${2:-eds}
shift; shift || true
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
shared="${SHARED:-$root/../shared}"
anchor="$shared/cpbench"
[ -f "$anchor/client/main.go" ] || { echo "anchor not found at $anchor (set SHARED=)" >&2; exit 1; }
OUT="${OUT:-${TMPDIR:-/tmp}/weft-cpbench/$(date +%Y%m%d-%H%M%S)}"
bin="$OUT/bin"
mkdir -p "$bin"

(cd "$anchor" && go build -o "$bin/client" ./client && go build -o "$bin/anchor" ./server)
(cd "$root" && go build -o "$bin/weft" ./bench/cpbench/server)

# busy_pct prints how busy all CPUs were over one second, in percent.
busy_pct() {
  local a b
  read -r -a a < <(grep '^cpu ' /proc/stat)
  sleep 1
  read -r -a b < <(grep '^cpu ' /proc/stat)
  local idle=$(( (b[4] + b[5]) - (a[4] + a[5]) )) total=0 i
  for i in 1 2 3 4 5 6 7 8; do total=$(( total + b[i] - a[i] )); done
  echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}

# wait_quiet waits (up to QUIET_WAIT seconds, default 600) until the machine
# is idle: on a 2-core box one other busy process halves what either server
# gets, and the comparison is only fair if both run alone.
wait_quiet() {
  local deadline=$(( $(date +%s) + ${QUIET_WAIT:-600} )) b
  while b=$(busy_pct); [ "$b" -gt 10 ]; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "warning: machine still ${b}% busy; measuring anyway" >&2
      return 0
    fi
    sleep 5
  done
}

# wait_ready polls the admin endpoint the client will use first.
wait_ready() {
  for _ in $(seq 100); do
    curl -fsS -o /dev/null http://127.0.0.1:18001/stats 2>/dev/null && return 0
    sleep 0.1
  done
  echo "server did not come up" >&2
  return 1
}

# busy_ticks prints the CPU time processes have used so far (user, nice,
# system), in clock ticks. Interrupt time is left out: the kernel's
# loopback TCP work lands there and belongs to the run itself.
busy_ticks() {
  local a k=0 p
  read -r -a a < <(grep '^cpu ' /proc/stat)
  # Under load the kernel defers that work to its ksoftirqd threads.
  for p in $(pgrep -x 'ksoftirqd/[0-9]+'); do k=$(( k + $(proc_ticks "$p") )); done
  echo $(( a[1] + a[2] + a[3] - k ))
}

# proc_ticks prints a process's user+system CPU time, in clock ticks.
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

run_one() { # name binary [client flags...]
  local name=$1 server=$2 tag="$1-n$N-$KIND"
  shift 2
  wait_quiet
  local b0 t0 hz
  hz=$(getconf CLK_TCK)
  b0=$(busy_ticks) t0=$(date +%s.%N)
  "$server" > "$OUT/server-$tag.log" 2>&1 &
  local spid=$!
  wait_ready || { kill "$spid"; return 1; }
  echo "== $name (pid $spid)"
  local TIMEFORMAT='%U %S'
  { time "$bin/client" -n "$N" -kind "$KIND" -server-pid "$spid" -json "$OUT/$tag.json" -label "$tag" "$@" \
      > "$OUT/client-$tag.log" 2>&1 ; } 2> "$OUT/client-cpu-$tag"
  grep -E 'synced|push [0-9]|SUMMARY|timeout|error' "$OUT/client-$tag.log" || true
  local sticks
  sticks=$(proc_ticks "$spid")
  kill "$spid"
  wait "$spid" 2>/dev/null || true
  # What neither server nor client used was used by someone else on this
  # shared machine: a noisy neighbour makes the run's numbers suspect.
  awk -v busy=$(( $(busy_ticks) - b0 )) -v s="$sticks" -v hz="$hz" -v t0="$t0" -v t1="$(date +%s.%N)" \
    '{ other = busy / hz - s / hz - $1 - $2; if (other < 0) other = 0;
       printf "{\"other_cpu_s\": %.2f, \"wall_s\": %.1f}\n", other, t1 - t0 }' \
    "$OUT/client-cpu-$tag" > "$OUT/noise-$tag.json"
  echo "   other processes used $(jq -r .other_cpu_s "$OUT/noise-$tag.json") s of CPU during this $(jq -r .wall_s "$OUT/noise-$tag.json") s run"
  # The next server binds the same ports.
  for _ in $(seq 50); do
    curl -fsS -o /dev/null http://127.0.0.1:18001/stats 2>/dev/null || break
    sleep 0.1
  done
}

for name in ${ORDER:-anchor weft}; do
  run_one "$name" "$bin/$name" "$@"
done

a="$OUT/anchor-n$N-$KIND.json" w="$OUT/weft-n$N-$KIND.json"
[ -f "$a" ] && [ -f "$w" ] || { echo "missing results in $OUT" >&2; exit 1; }
echo
echo "== N=$N kind=$KIND ($(date -u +%Y-%m-%dT%H:%MZ), results in $OUT)"
# Server CPU per push is the client's median over its pushes, measured from
# the push request to 1 s after convergence (an idle server uses ~0).
jq -rn --slurpfile a <(jq --slurpfile n "$OUT/noise-anchor-n$N-$KIND.json" '. + {noise: $n[0]}' "$a") \
  --slurpfile w <(jq --slurpfile n "$OUT/noise-weft-n$N-$KIND.json" '. + {noise: $n[0]}' "$w") '
  def row(name; f; unit): [name, (($a[0]|f)*100|round/100), (($w[0]|f)*100|round/100),
      (if ($a[0]|f) == 0 then "-" else ((($w[0]|f)/($a[0]|f))*1000|round/1000) end), unit];
  (["metric", "anchor", "weft", "weft/anchor", "unit"]),
  row("convergence p50"; .MedP50; "ms"),
  row("convergence p99"; .MedP99; "ms"),
  row("convergence max"; .MedMax; "ms"),
  row("initial sync"; .initial_sync_ms; "ms"),
  row("RSS per proxy"; .rss_per_proxy_kb; "KB"),
  row("heap+stack per proxy (after GC)"; .heap_per_proxy_kb_after_gc; "KB"),
  row("server VmHWM"; .server_vmhwm_kb / 1024; "MB"),
  row("server CPU per push"; .MedCPU; "s"),
  row("server CPU per proxy per push"; .MedCPU * 1e6 / .n; "µs"),
  row("converged (last push)"; .pushes[-1].converged; "streams"),
  row("stream errors"; .errors; ""),
  row("other processes CPU during run"; .noise.other_cpu_s; "s")
  | @tsv' | column -t -s $'\t'

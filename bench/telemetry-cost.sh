#!/usr/bin/env bash
# Issue 11's telemetry cost: proxy CPU per request with metrics on, 1 %
# trace sampling and access logs off, against telemetry fully off
# (internal/proxy/telemetry_cost_bench_test.go).
#
# Two measurements, because the machine is shared and its timings are noisy:
#  1. Timings: ROUNDS rounds, each running every variant once in turn (so
#     load drifts hit all variants alike), then benchstat over the rounds.
#  2. Instructions per request, which load does not change: callgrind
#     (valgrind) counts the process's instructions at two request counts;
#     the difference over the difference in requests cancels start-up and
#     set-up. The client and upstream run in the same process, so the
#     proxy's own share is each variant minus "direct" (no proxy).
#     Go under valgrind 3.19 needs RDTSCP off (valgrind cannot decode it)
#     and no asynchronous preemption signals (callgrind asserts on them).
#     GOGC=off: a garbage collection landing in one run and not the other
#     was the main noise (the HTTP/1.1 path allocates nothing anyway).
#
# usage: bench/telemetry-cost.sh [OUTDIR]   (env: ROUNDS=6, BENCHTIME=2s,
#        N1=1000, N2=3000, REPS=3, SKIP_TIMING=1, SKIP_CALLGRIND=1,
#        VARIANTS="BenchmarkHTTP1TelemetryCost/off ..." to count only some)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$(mktemp -d)}"
mkdir -p "$out"
rounds="${ROUNDS:-6}" benchtime="${BENCHTIME:-2s}"
n1="${N1:-1000}" n2="${N2:-3000}" reps="${REPS:-3}"
bin="$out/proxy.test"
(cd "$root" && CGO_ENABLED=0 go test -c -o "$bin" ./internal/proxy/)
echo "binary: $bin ($(cd "$root" && git describe --always --dirty))" | tee "$out/info.txt"
echo "date: $(date -u +%FT%TZ)  load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/info.txt"

if [ -z "${SKIP_TIMING:-}" ]; then
  : >"$out/timing.txt"
  for r in $(seq "$rounds"); do
    for b in 'BenchmarkHTTP1TelemetryCost' 'BenchmarkHTTP2TelemetryCost'; do
      "$bin" -test.run '^$' -test.bench "^$b\$" -test.benchmem -test.benchtime "$benchtime" >>"$out/timing.txt" 2>/dev/null
    done
    echo "timing round $r of $rounds done"
  done
  (cd "$root" && go run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da "$out/timing.txt") | tee "$out/benchstat.txt"
fi

if [ -z "${SKIP_CALLGRIND:-}" ]; then
  command -v valgrind >/dev/null || { echo "valgrind missing: apt-get install valgrind" >&2; exit 1; }
  ir() { # ir BENCH N: total instructions of one run of BENCH with N requests
    GOGC=off GODEBUG=asyncpreemptoff=1,cpu.rdtscp=off GOMAXPROCS=1 valgrind --tool=callgrind \
      --callgrind-out-file=/dev/null "$bin" -test.run '^$' -test.bench "^$1\$" -test.benchtime "${2}x" 2>&1 |
      awk '/Collected :/ {print $4}'
  }
  : >"$out/instructions.txt"
  for rep in $(seq "$reps"); do
    for v in ${VARIANTS:-BenchmarkHTTP1TelemetryCost/direct BenchmarkHTTP1TelemetryCost/off BenchmarkHTTP1TelemetryCost/on \
      BenchmarkHTTP2TelemetryCost/off BenchmarkHTTP2TelemetryCost/on}; do
      a=$(ir "$v" "$n1"); b=$(ir "$v" "$n2")
      echo "$v rep $rep: $(( (b - a) / (n2 - n1) )) instructions/request ($a at $n1, $b at $n2)" | tee -a "$out/instructions.txt"
    done
  done
  awk '{v=$1; n[v]++; s[v]+=$4} END {
    for (v in s) m[v]=s[v]/n[v]
    d=m["BenchmarkHTTP1TelemetryCost/direct"]; off=m["BenchmarkHTTP1TelemetryCost/off"]; on=m["BenchmarkHTTP1TelemetryCost/on"]
    if (off > d && d > 0) {
      printf "HTTP/1.1 instructions/request: direct %.0f, off %.0f, on %.0f\n", d, off, on
      printf "HTTP/1.1 whole process on/off: %.3f; proxy alone (minus direct) on/off: %.3f\n", on/off, (on-d)/(off-d)
    }
    o2=m["BenchmarkHTTP2TelemetryCost/off"]; n2=m["BenchmarkHTTP2TelemetryCost/on"]
    if (o2 > 0) printf "HTTP/2 instructions/request: off %.0f, on %.0f; whole process on/off: %.3f\n", o2, n2, n2/o2
  }' "$out/instructions.txt" | tee "$out/ratio.txt"
fi
echo "results in $out"

#!/usr/bin/env bash
# Sharing the CPU with the host: the vision tower + head per image while other work keeps
# cores busy, for the OpenMP wait policies, against the quiet runs of the same invocation.
# Usage: tests/bench/contention.sh [MODEL SIZE PRECISION REPEATS]   (default B16 224 f32 7)
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-B16} size=${2:-224} prec=${3:-f32} reps=${4:-7}
cores=$(nproc)
bench=build/bench

# ms/image of one configuration: threads, wait policy ("default" = unset), busy cores
run() {
    local threads=$1 policy=$2 busy=$3 pids=() ms
    for ((i = 0; i < busy; i++)); do "$bench" spin 600 & pids+=($!); done
    if [ "$policy" = default ]; then
        ms=$(env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT OMP_NUM_THREADS=$threads \
             "$bench" vision "$model" "$size" "$prec" "$reps" | awk '/tower \+ head/ {print $4}')
    else
        ms=$(env -u GOMP_SPINCOUNT OMP_WAIT_POLICY=$policy OMP_NUM_THREADS=$threads \
             "$bench" vision "$model" "$size" "$prec" "$reps" | awk '/tower \+ head/ {print $4}')
    fi
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    echo "$ms"
}

echo "contention: vision $model@$size $prec, $cores cores, median of $reps per configuration"
q1=$(run 1 passive 0)
qd=$(run "$cores" default 0)
qp=$(run "$cores" passive 0)
bd=$(run "$cores" default 1)
bp=$(run "$cores" passive 1)
b1=$(run 1 passive 1)
awk -v q1="$q1" -v qd="$qd" -v qp="$qp" -v bd="$bd" -v bp="$bp" -v b1="$b1" -v n="$cores" 'BEGIN {
  printf "  %-44s %10s %14s %16s\n", "configuration", "ms/image", "x quiet same", "x quiet 1 thread";
  printf "  %-44s %10.1f %14s %16.2f\n", "1 thread, quiet", q1, "-", 1;
  printf "  %-44s %10.1f %14s %16.2f\n", n " threads, spinning waits (default), quiet", qd, "-", qd / q1;
  printf "  %-44s %10.1f %14.2f %16.2f\n", n " threads, passive waits, quiet", qp, qp / qd, qp / q1;
  printf "  %-44s %10.1f %14.2f %16.2f\n", n " threads, spinning waits, 1 core busy", bd, bd / qd, bd / q1;
  printf "  %-44s %10.1f %14.2f %16.2f\n", n " threads, passive waits, 1 core busy", bp, bp / qp, bp / q1;
  printf "  %-44s %10.1f %14.2f %16.2f\n", "1 thread, 1 core busy", b1, b1 / q1, b1 / q1;
  printf "  targets: passive quiet <= 1.05 x spinning quiet (%.2f); passive with 1 of %d cores busy <= 1.15 x 1-thread quiet (%.2f)\n", qp / qd, n, bp / q1;
}'

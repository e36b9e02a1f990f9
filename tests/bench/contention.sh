#!/usr/bin/env bash
# Sharing the CPU with the host: the vision tower + head per image while other work keeps
# cores busy, for the OpenMP wait policies, against the quiet runs of the same invocation.
# Usage: tests/bench/contention.sh [MODEL SIZE PRECISION REPEATS ROUNDS]   (default B16 224 f32 7 3)
# The configurations run interleaved, ROUNDS times; each figure is the median of its rounds,
# so a burst of outside load on this shared machine lands on one round, not on one figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
model=${1:-B16} size=${2:-224} prec=${3:-f32} reps=${4:-7} rounds=${5:-3}
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

echo "contention: vision $model@$size $prec, $cores cores, median of $reps per run, median of $rounds interleaved rounds"
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
Q1="" QD="" QP="" BD="" BP="" B1=""
for ((r = 0; r < rounds; r++)); do
    Q1="$Q1 $(run 1 passive 0)"; QD="$QD $(run "$cores" default 0)"; QP="$QP $(run "$cores" passive 0)"
    BD="$BD $(run "$cores" default 1)"; BP="$BP $(run "$cores" passive 1)"; B1="$B1 $(run 1 passive 1)"
done
q1=$(echo "$Q1" | median) qd=$(echo "$QD" | median) qp=$(echo "$QP" | median)
bd=$(echo "$BD" | median) bp=$(echo "$BP" | median) b1=$(echo "$B1" | median)
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

#!/usr/bin/env bash
# run_fuzz.sh NAME SECONDS: replays tests/fuzz/regress/NAME/* (each must pass), then fuzzes
# build/fuzz/fuzz_NAME for SECONDS from the seeds plus the corpus grown by earlier runs, and prints
# one line: executions, libFuzzer's coverage (cov: edges, ft: features) and the corpus size.
set -u
name=$1 secs=$2
bin=build/fuzz/fuzz_$name
corpus=build/fuzz/corpus/$name crash=build/fuzz/crash/$name regress=tests/fuzz/regress/$name
mkdir -p "$corpus" "$crash" "build/fuzz/seeds/$name"
case $name in
  imageio|safetensors) max_len=65536 ;;
  recipe|json) max_len=8192 ;;
  *) max_len=4096 ;;
esac
if [ -d "$regress" ] && [ -n "$(ls -A "$regress" 2>/dev/null)" ]; then
  if ! "$bin" -runs=0 "$regress"/* >build/fuzz/regress_$name.log 2>&1; then
    echo "fuzz $name: a regression input fails again:"; tail -30 build/fuzz/regress_$name.log; exit 1
  fi
  echo "fuzz $name: $(ls "$regress" | wc -l) regression inputs pass"
fi
log=build/fuzz/run_$name.log
"$bin" -max_total_time="$secs" -max_len=$max_len -timeout=20 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$crash/" "$corpus" "build/fuzz/seeds/$name" >"$log" 2>&1
rc=$?
execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | grep -o '[0-9]*$')
last=$(grep -E '^#[0-9]+' "$log" | tail -1)
cov=$(echo "$last" | grep -o 'cov: [0-9]*' | grep -o '[0-9]*$')
ft=$(echo "$last" | grep -o 'ft: [0-9]*' | grep -o '[0-9]*$')
files=$(ls "$corpus" | wc -l)
echo "fuzz $name: ${execs:-?} executions in ${secs} s, cov ${cov:-?} edges, ft ${ft:-?} features, corpus $files inputs"
if [ $rc -ne 0 ]; then
  echo "fuzz $name: FAILED (rc $rc); the input is in $crash/, the log in $log:"
  grep -E 'ERROR|SUMMARY|runtime error|Test unit written' "$log" | head -20
  exit 1
fi

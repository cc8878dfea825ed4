#!/usr/bin/env bash
# Data-parallel training on the CPU (train/workers): samples/s of one process against K = 2 workers
# under mpirun, side by side in one run, and how much of a worker's step went to waiting for the gradient
# sums (the part of the communication not hidden behind the backward pass).
#
#   bench/data_parallel.sh                      # ResNet-56 (CIFAR) and a 2 x 512 LSTM
#   STEPS=12 MODELS=resnet bench/data_parallel.sh
#
# The machine has 2 cores, so a worker gets 1 thread: K = 2 is set against one process at 1 thread (the
# same work per core) and at 2 threads (the same cores). Samples/s is the median over logged steps after
# WARMUP; the global batch is the same in every row, so the rows train the same model on the same data.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cli="${SUBLINEAR:-$root/build/sublinear}"
steps="${STEPS:-10}"
warmup="${WARMUP:-3}"
models="${MODELS:-resnet lstm}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
command -v mpirun > /dev/null || { echo "data_parallel.sh: mpirun not found (scripts/install_deps.sh installs Open MPI)"; exit 1; }

# Median samples/s after the warm-up, and the share of the timed steps spent waiting for gradient sums.
summary() {
  python3 - "$1" "$warmup" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
warm = int(sys.argv[2])
timed = [r for r in rows if r["step"] > warm]
sps = statistics.median(r["samples_per_s"] for r in timed)
base = rows[warm - 1] if warm >= 1 else {"elapsed_s": 0.0, "reduce_wait_s": 0.0}
elapsed = timed[-1]["elapsed_s"] - base["elapsed_s"]
wait = timed[-1].get("reduce_wait_s", 0.0) - base.get("reduce_wait_s", 0.0)
print(f"{sps:.1f} {100.0 * wait / elapsed:.1f}")
PY
}

run() {  # name yaml label threads workers [--set ...]
  local name="$1" yaml="$2" label="$3" threads="$4" k="$5"
  shift 5
  local dir="$work/$name-$label"
  if [ "$k" -eq 1 ]; then
    OMP_NUM_THREADS="$threads" "$cli" train "$yaml" --quiet --steps "$steps" --run-dir "$dir" "$@" --set log.every=1 \
      --set checkpoint.every=0
  else
    OMP_NUM_THREADS="$threads" mpirun --allow-run-as-root --oversubscribe -np "$k" --bind-to core "$cli" train "$yaml" \
      --quiet --steps "$steps" --run-dir "$dir" "$@" --set log.every=1 --set checkpoint.every=0
  fi
  summary "$dir/metrics.jsonl"
}

printf "%-34s %-28s %12s %10s %14s\n" "model (global batch)" "configuration" "samples/s" "vs 1x1" "sum wait share"
for m in $models; do
  case "$m" in
    resnet)
      yaml="$here/resnet_cifar_bench.yaml"
      sets=(--set model.params.depth=56 --set batch=64)
      title="CIFAR ResNet-56 (64)";;
    lstm)
      yaml="$here/lstm_bench.yaml"
      sets=(--set model.params.layers=2 --set model.params.hidden=512 --set model.params.seq_len=32 --set batch=64)
      title="LSTM 2 x 512, 32 steps (64)";;
    *) echo "unknown model $m"; exit 1;;
  esac
  read -r one _ <<< "$(run "$m" "$yaml" 1x1 1 1 "${sets[@]}")"
  read -r two _ <<< "$(run "$m" "$yaml" 1x2 2 1 "${sets[@]}")"
  read -r dp wait <<< "$(run "$m" "$yaml" 2x1 1 2 "${sets[@]}")"
  read -r dpn waitn <<< "$(run "$m" "$yaml" 2x1n 1 2 "${sets[@]}" --set workers.overlap=false)"
  ratio() { python3 -c "print(f'{$1 / $2:.2f}x')"; }
  printf "%-34s %-28s %12s %10s %14s\n" "$title" "1 process, 1 thread" "$one" "1.00x" "-"
  printf "%-34s %-28s %12s %10s %14s\n" "" "1 process, 2 threads" "$two" "$(ratio "$two" "$one")" "-"
  printf "%-34s %-28s %12s %10s %14s\n" "" "2 workers x 1 thread" "$dp" "$(ratio "$dp" "$one")" "$wait%"
  printf "%-34s %-28s %12s %10s %14s\n" "" "2 workers, sums after backward" "$dpn" "$(ratio "$dpn" "$one")" "$waitn%"
done

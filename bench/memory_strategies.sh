#!/usr/bin/env bash
# Real runs of one model under every memory strategy, side by side: planned feature-map arena, the arena
# the executor measured, process peak RSS, speed, and the final loss (identical under every strategy,
# since recomputation is exact). Defaults: CIFAR ResNet-164 (examples/resnet_cifar.snet), batch 32,
# 4 steps on synthetic data.
#
#   bench/memory_strategies.sh
#   DEPTH=56 BATCH=64 STEPS=3 bench/memory_strategies.sh
#   OUT=/tmp/out bench/memory_strategies.sh     # also writes $OUT/memory_strategies.txt
set -euo pipefail
cd "$(dirname "$0")/.."
SUBLINEAR="${SUBLINEAR:-build/sublinear}"
DEPTH="${DEPTH:-164}"
BATCH="${BATCH:-32}"
STEPS="${STEPS:-4}"
[[ -x "$SUBLINEAR" ]] || { echo "memory_strategies: $SUBLINEAR not built (cmake --build build)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
run() {  # label, then --set overrides
  local label="$1"; shift
  local args=()
  for s in "$@"; do args+=(--set "$s"); done
  "$SUBLINEAR" train bench/resnet_cifar_bench.yaml --quiet --steps "$STEPS" --run-dir "$tmp/$label" \
    --set model.params.depth="$DEPTH" --set batch="$BATCH" --set log.every=1 "${args[@]}"
  python3 - "$label" "$tmp/$label/metrics.jsonl" <<'PY'
import json, sys, statistics
rows = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
last = rows[-1]
speed = statistics.median(r["samples_per_s"] for r in rows[1:] or rows)
mib = lambda b: b / 2**20
print(f"{sys.argv[1]:<18}{mib(last['planned_arena_bytes']):>12.1f}{mib(last['arena_peak_bytes']):>12.1f}"
      f"{mib(last['rss_peak_bytes']):>10.1f}{speed:>11.1f}  {last['loss']}")
PY
}
{
  echo "resnet_cifar depth $DEPTH, batch $BATCH, $STEPS steps (CPU, $(nproc) threads)"
  printf '%-18s%12s%12s%10s%11s  %s\n' strategy "planned MiB" "measured" "RSS MiB" "samples/s" "loss after last step"
  run "no optimisation" memory.inplace=false memory.sharing=false
  run "inplace" memory.sharing=false
  run "inplace+sharing" memory.policy=none
  run "drop-cheap" memory.policy=drop-cheap
  run "sqrt" memory.policy=sqrt
  run "log" memory.policy=log
} | tee "$tmp/table.txt"
if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; cp "$tmp/table.txt" "$OUT/memory_strategies.txt"; fi

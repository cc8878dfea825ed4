#!/usr/bin/env bash
# Time per op kind, sublinear against PyTorch, on the same models at the same batch and thread count,
# measured in one run: CIFAR ResNet-164 (examples/resnet_cifar.snet and bench/torch_resnet_cifar.py)
# and the paper's 4 x 1,024 LSTM (examples/lstm.snet and bench/torch_lstm.py), both keeping every
# feature map. sublinear's times come from `train --profile` (per node, the median over the steps of
# its forward and backward seconds, summed per op kind); PyTorch's from torch.profiler (self CPU time
# of the aten ops per step, each mapped to the sublinear op it implements: bench/torch_op_kinds.py).
# Prints, per model and thread count, one row per op kind (ms per step, ratio sublinear / PyTorch),
# largest first, and the whole step of each. Writes the tables to $OUT/op_profile_vs_torch.txt when OUT
# is set.
#
#   PYTHON=/tmp/torchenv/bin/python bench/op_profile_vs_torch.sh
#   MODELS=resnet THREADS_LIST=1 RESNET_DEPTH=56 bench/op_profile_vs_torch.sh
#
# Environment (defaults in brackets): SUBLINEAR [build/sublinear], PYTHON (with torch) [python3],
# MODELS [resnet lstm], THREADS_LIST [1 2], STEPS profiled steps [4], RESNET_DEPTH [164],
# RESNET_BATCH [32], LSTM_SEQ [32], LSTM_BATCH [64], OUT [unset].
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here/.."
SUBLINEAR="${SUBLINEAR:-build/sublinear}"
PYTHON="${PYTHON:-python3}"
MODELS="${MODELS:-resnet lstm}"
THREADS_LIST="${THREADS_LIST:-1 2}"
STEPS="${STEPS:-4}"
RESNET_DEPTH="${RESNET_DEPTH:-164}"
RESNET_BATCH="${RESNET_BATCH:-32}"
LSTM_SEQ="${LSTM_SEQ:-32}"
LSTM_BATCH="${LSTM_BATCH:-64}"
[[ -x "$SUBLINEAR" ]] || { echo "op_profile_vs_torch: $SUBLINEAR not built (cmake --build build)" >&2; exit 1; }
"$PYTHON" -c "import torch" 2>/dev/null ||
  { echo "op_profile_vs_torch: $PYTHON has no torch (python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch; PYTHON=/tmp/torchenv/bin/python)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

measure() {  # model threads
  local model="$1" t="$2" run="$tmp/$1_$2"
  if [[ "$model" == resnet ]]; then
    OMP_NUM_THREADS="$t" "$SUBLINEAR" train bench/resnet_cifar_bench.yaml --quiet --steps $((STEPS + 1)) \
      --run-dir "$run" --profile --set model.params.depth="$RESNET_DEPTH" --set batch="$RESNET_BATCH"
    (cd bench && "$PYTHON" torch_resnet_cifar.py --depth "$RESNET_DEPTH" --batch "$RESNET_BATCH" --threads "$t" \
      --steps "$STEPS" --warmup 1 --profile) > "$run/torch.json" 2> "$run/torch.log"
    (cd bench && "$PYTHON" torch_resnet_cifar.py --depth "$RESNET_DEPTH" --batch "$RESNET_BATCH" --threads "$t" \
      --steps "$STEPS" --warmup 1 --json) > "$run/torch_step.json" 2>> "$run/torch.log"
  else
    OMP_NUM_THREADS="$t" "$SUBLINEAR" train bench/lstm_bench.yaml --quiet --steps $((STEPS + 1)) \
      --run-dir "$run" --profile --set model.params.seq_len="$LSTM_SEQ" --set batch="$LSTM_BATCH"
    (cd bench && "$PYTHON" torch_lstm.py --seq-len "$LSTM_SEQ" --batch "$LSTM_BATCH" --threads "$t" \
      --steps "$STEPS" --warmup 1 --profile) > "$run/torch.json" 2> "$run/torch.log"
    (cd bench && "$PYTHON" torch_lstm.py --seq-len "$LSTM_SEQ" --batch "$LSTM_BATCH" --threads "$t" \
      --steps "$STEPS" --warmup 1 --json) > "$run/torch_step.json" 2>> "$run/torch.log"
  fi
  "$PYTHON" - "$model" "$t" "$run" <<'PY'
import collections, json, statistics, sys
model, threads, run = sys.argv[1:4]
prof = json.load(open(f"{run}/profile.json"))
ours = collections.defaultdict(float)
for n in prof["nodes"]:
    ours[n["op"]] += n["forward_seconds"] + (n["recompute_seconds"] or 0) + (n["backward_seconds"] or 0)
theirs = json.load(open(f"{run}/torch.json"))
rows = [json.loads(l) for l in open(f"{run}/metrics.jsonl") if l.strip()]
batch = prof["batch"]
our_step = statistics.median(batch / r["samples_per_s"] for r in rows[1:])
ts = json.load(open(f"{run}/torch_step.json"))
their_step = ts.get("s_per_step") or ts["step_ms_median"] / 1e3
kinds = sorted(set(ours) | set(theirs), key=lambda k: -max(ours.get(k, 0), theirs.get(k, 0)))
print(f"{model}, {threads} thread(s): time per op kind, ms per step (forward + backward)")
print(f"  {'op kind':<34}{'sublinear':>11}{'pytorch':>11}{'ratio':>8}")
for k in kinds:
    a, b = ours.get(k, 0.0) * 1e3, theirs.get(k, 0.0) * 1e3
    if max(a, b) < 0.05:
        continue
    ratio = f"{a / b:.2f}x" if a > 0 and b > 0 else "-"
    print(f"  {k:<34}{a:>11.1f}{b:>11.1f}{ratio:>8}")
timed = lambda d: sum(v for k, v in d.items() if not k.startswith("not timed"))
a, b = timed(ours) * 1e3, timed(theirs) * 1e3
print(f"  {'all op kinds sublinear times':<34}{a:>11.1f}{b:>11.1f}{a / b:>7.2f}x")
print(f"  {'whole step (median)':<34}{our_step * 1e3:>11.1f}{their_step * 1e3:>11.1f}{our_step / their_step:>7.2f}x")
print()
PY
}
{
  echo "op profile, sublinear vs PyTorch $("$PYTHON" -c 'import torch; print(torch.__version__)'), $(nproc) cores, $STEPS steps"
  echo
  for m in $MODELS; do
    for t in $THREADS_LIST; do measure "$m" "$t"; done
  done
} | tee "$tmp/table.txt"
if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; cp "$tmp/table.txt" "$OUT/op_profile_vs_torch.txt"; fi

#!/usr/bin/env bash
# The paper's LSTM (examples/lstm.snet) against its PyTorch twin (bench/torch_lstm.py), eager and under
# torch.compile, side by side in one run: seconds per training step (SGD with momentum, keep-everything
# plan for sublinear), at each thread count of THREADS_LIST. Each configuration runs in a fresh process.
#
#   PYTHON=/tmp/torchenv/bin/python bench/lstm_vs_torch.sh
#   THREADS_LIST="1" SEQ=64 bench/lstm_vs_torch.sh
#
# Environment [defaults]: PYTHON [python3] with torch; THREADS_LIST ["1 2"]; LAYERS [4]; HIDDEN [1024];
# SEQ [32]; BATCH [64]; STEPS timed [3]; WARMUP [1] (torch.compile compiles in it); COMPILE [1].
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
cli="${SUBLINEAR:-$root/build/sublinear}"
PYTHON="${PYTHON:-python3}"
THREADS_LIST="${THREADS_LIST:-1 2}"
LAYERS="${LAYERS:-4}" HIDDEN="${HIDDEN:-1024}" SEQ="${SEQ:-32}" BATCH="${BATCH:-64}"
STEPS="${STEPS:-3}" WARMUP="${WARMUP:-1}" COMPILE="${COMPILE:-1}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$PYTHON" -c "import torch" 2>/dev/null || { echo "lstm_vs_torch.sh: $PYTHON has no torch (python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch)"; exit 1; }

printf "LSTM %s x %s, %s steps, batch %s; median of %s steps after %s\n" "$LAYERS" "$HIDDEN" "$SEQ" "$BATCH" "$STEPS" "$WARMUP"
printf "%-8s %-22s %10s %16s\n" threads framework "s/step" "vs torch eager"
for t in $THREADS_LIST; do
  dir="$work/sl-$t"
  OMP_NUM_THREADS="$t" "$cli" train "$here/lstm_bench.yaml" --quiet --run-dir "$dir" --steps $((STEPS + WARMUP)) \
    --set model.params.layers="$LAYERS" --set model.params.hidden="$HIDDEN" --set model.params.seq_len="$SEQ" \
    --set batch="$BATCH" --set log.every=1 >/dev/null
  sl=$("$PYTHON" -c "
import json, statistics, sys
rows = [json.loads(l) for l in open('$dir/metrics.jsonl')][$WARMUP:]
print(statistics.median($BATCH / r['samples_per_s'] for r in rows))")
  args=(--layers "$LAYERS" --hidden "$HIDDEN" --seq-len "$SEQ" --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP"
        --threads "$t" --json)
  eager=$(cd "$here" && OMP_NUM_THREADS="$t" "$PYTHON" torch_lstm.py "${args[@]}" | tail -n 1 |
          "$PYTHON" -c "import json, sys; print(json.load(sys.stdin)['s_per_step'])")
  printf "%-8s %-22s %10.3f %15.2fx\n" "$t" sublinear "$sl" "$("$PYTHON" -c "print($sl / $eager)")"
  printf "%-8s %-22s %10.3f %15.2fx\n" "$t" "pytorch eager" "$eager" 1
  if [ "$COMPILE" = 1 ]; then
    comp=$(cd "$here" && OMP_NUM_THREADS="$t" "$PYTHON" torch_lstm.py "${args[@]}" --compile 2>"$work/compile.log" |
           tail -n 1 | "$PYTHON" -c "import json, sys; print(json.load(sys.stdin)['s_per_step'])")
    printf "%-8s %-22s %10.3f %15.2fx\n" "$t" "pytorch torch.compile" "$comp" "$("$PYTHON" -c "print($comp / $eager)")"
  fi
done

#!/usr/bin/env bash
# CPU training speed and memory, sublinear vs PyTorch, on the same GPT (examples/gpt.snet and its twin
# bench/torch_gpt.py: same layers, same parameter count, checked), byte-level on the same text, Adam,
# the same thread count, each configuration in a fresh process, measured in one run:
#   sublinear keep-everything (policy none) and with recomputation (policy sqrt, or BUDGET),
#   PyTorch eager and PyTorch with torch.utils.checkpoint around every block.
# Prints config, median s/step of the timed steps, samples/s, peak RSS and the ratio to PyTorch eager.
#
#   PYTHON=.venv/bin/python bench/gpt_vs_torch.sh
#   SEQ=1024 BATCH=2 STEPS=3 bench/gpt_vs_torch.sh
#
# Environment [defaults]: SUBLINEAR [build/sublinear], PYTHON (with torch) [python3], LAYERS [4], HEADS [4],
# D [256], SEQ [512], BATCH [4], VOCAB [256], STEPS timed [5], WARMUP [2], THREADS [1],
# BUDGET (e.g. 300MiB: replaces policy sqrt) [unset], TEXT [/usr/share/common-licenses/GPL-3].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
SUBLINEAR="${SUBLINEAR:-build/sublinear}"
PYTHON="${PYTHON:-python3}"
LAYERS="${LAYERS:-4}" HEADS="${HEADS:-4}" D="${D:-256}" SEQ="${SEQ:-512}" BATCH="${BATCH:-4}" VOCAB="${VOCAB:-256}"
STEPS="${STEPS:-5}" WARMUP="${WARMUP:-2}" THREADS="${THREADS:-1}" BUDGET="${BUDGET:-}"
TEXT="${TEXT:-/usr/share/common-licenses/GPL-3}"

die() { echo "gpt_vs_torch: $*" >&2; exit 1; }
for v in LAYERS HEADS D SEQ BATCH VOCAB STEPS WARMUP THREADS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
(( D % HEADS == 0 )) || die "D ($D) must be a multiple of HEADS ($HEADS)"
[[ -x "$SUBLINEAR" && -f "$SUBLINEAR" ]] || die "no sublinear binary at '$SUBLINEAR' (build it, or set SUBLINEAR=)"
"$PYTHON" -c 'import torch' 2>/dev/null || die "'$PYTHON' cannot import torch (python3 -m venv .venv && .venv/bin/pip install torch; PYTHON=.venv/bin/python)"
[[ -r "$TEXT" ]] || die "cannot read the text file '$TEXT' (set TEXT=)"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/gpt_vs_torch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
params=(--set "vocab=$VOCAB" --set "n_layer=$LAYERS" --set "n_head=$HEADS" --set "d_model=$D" --set "seq_len=$SEQ")

# The twin must have the model's parameter count.
ours="$("$SUBLINEAR" check examples/gpt.snet --batch "$BATCH" "${params[@]}" | awk '$1 == "parameters" { gsub(",", "", $2); print $2 }')"
[[ -n "$ours" ]] || die "sublinear check printed no parameter count"

cat > "$tmp/exp.yaml" <<YAML
model:
  file: $root/examples/gpt.snet
  params: {vocab: $VOCAB, n_layer: $LAYERS, n_head: $HEADS, d_model: $D, seq_len: $SEQ}
batch: $BATCH
seed: 0
data: {kind: text, path: $TEXT, level: byte}
optimizer: {kind: adam, lr: 0.001}
steps: $((STEPS + WARMUP))
log: {every: 1}
YAML

rows="$tmp/rows.txt"
: > "$rows"
run_sublinear() {  # name, memory override
  local name="$1" mem="$2" dir="$tmp/run-$1"
  OMP_NUM_THREADS="$THREADS" "$SUBLINEAR" train "$tmp/exp.yaml" --set "$mem" --run-dir "$dir" --quiet \
    > "$tmp/$name.log" 2>&1 || { tail -n 20 "$tmp/$name.log" >&2; die "sublinear train ($name) failed"; }
  "$PYTHON" - "$dir/metrics.jsonl" "$name" "$WARMUP" "$BATCH" >> "$rows" <<'PY'
import json, statistics, sys
path, name, warmup, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = [json.loads(l) for l in open(path) if l.strip()]
timed = [batch / r["samples_per_s"] for r in rows[warmup:] if r["samples_per_s"] > 0]
if not timed:
    sys.exit(f"gpt_vs_torch: {path} has no timed steps")
print(name, statistics.median(timed), rows[-1]["rss_peak_bytes"] / 2**20, rows[0]["loss"])
PY
}
run_torch() {  # name, extra flags
  local name="$1"; shift
  local out
  out="$("$PYTHON" bench/torch_gpt.py --vocab "$VOCAB" --layers "$LAYERS" --heads "$HEADS" --d "$D" --seq "$SEQ" \
    --batch "$BATCH" --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --text "$TEXT" "$@")" \
    || die "PyTorch ($name) failed"
  "$PYTHON" - "$out" "$name" "$ours" >> "$rows" <<'PY'
import json, sys
r, name, ours = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
if r["params"] != ours:
    sys.exit(f"gpt_vs_torch: the PyTorch twin has {r['params']} parameters, examples/gpt.snet {ours}")
print(name, r["s_per_step"], r["rss_mib"], r["first_loss"])
PY
}

echo "GPT: $LAYERS layers, $HEADS heads, d_model $D, context $SEQ, vocab $VOCAB, batch $BATCH, $ours parameters;" \
     "$THREADS thread(s), median of $STEPS steps after $WARMUP" >&2
run_sublinear "sublinear none" "memory.policy=none"
if [[ -n "$BUDGET" ]]; then run_sublinear "sublinear budget $BUDGET" "memory.budget=$BUDGET"
else run_sublinear "sublinear sqrt" "memory.policy=sqrt"; fi
run_torch "pytorch eager"
run_torch "pytorch checkpoint/block" --checkpoint

"$PYTHON" - "$rows" "$BATCH" <<'PY'
import sys
rows = [l.rsplit(" ", 3) for l in open(sys.argv[1]).read().splitlines()]
batch = int(sys.argv[2])
base = next(float(s) for n, s, _, _ in rows if n == "pytorch eager")
print(f"{'config':<28} {'s/step':>8} {'samples/s':>10} {'peak RSS MiB':>13} {'vs eager':>9} {'loss step 1':>12}")
for n, s, rss, loss in rows:
    s = float(s)
    print(f"{n:<28} {s:8.3f} {batch / s:10.2f} {float(rss):13.1f} {s / base:8.2f}x {float(loss):12.4f}")
PY

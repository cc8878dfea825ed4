#!/usr/bin/env bash
# CPU training speed, sublinear vs PyTorch, on the same pre-activation ResNet (examples/
# resnet_cifar.snet and its PyTorch twin bench/torch_resnet_cifar.py), batch, image size and
# thread count, measured in one run. Prints a table (framework, samples/s, ms/step, ratio to
# PyTorch) and writes it to $OUT/cpu_vs_torch.txt when OUT is set.
#
#   bench/cpu_vs_torch.sh
#   DEPTH=56 BATCH=64 STEPS=10 bench/cpu_vs_torch.sh
#
# Environment (defaults in brackets):
#   SUBLINEAR   sublinear binary [build/sublinear]
#   PYTHON      python with torch installed [python3]
#   DEPTH       9n + 2 [29]          BATCH    batch size [32]
#   IMAGE_SIZE  [32]                 CLASSES  [10]
#   STEPS       timed steps [20]     WARMUP   untimed steps first [3]
#   THREADS     threads for both [nproc]
#   SQRT        1: also run sublinear with memory.policy=sqrt (recompute overhead) [1]
#   COMPILE     1: also run the PyTorch twin under torch.compile (inductor; compiled in the warmup) [0]
#   TORCH_ONLY  1: skip sublinear (e.g. in a build without `train`) [0]
#   RUN_TIMEOUT seconds allowed per framework run [900]
#   OUT         folder for cpu_vs_torch.txt (and the sublinear metrics) [unset: no files]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

SUBLINEAR="${SUBLINEAR:-build/sublinear}"
PYTHON="${PYTHON:-python3}"
DEPTH="${DEPTH:-29}"
BATCH="${BATCH:-32}"
IMAGE_SIZE="${IMAGE_SIZE:-32}"
CLASSES="${CLASSES:-10}"
STEPS="${STEPS:-20}"
WARMUP="${WARMUP:-3}"
THREADS="${THREADS:-$(nproc)}"
SQRT="${SQRT:-1}"
COMPILE="${COMPILE:-0}"
TORCH_ONLY="${TORCH_ONLY:-0}"
RUN_TIMEOUT="${RUN_TIMEOUT:-900}"
CONFIG="$here/resnet_cifar_bench.yaml"

die() { echo "cpu_vs_torch: $*" >&2; exit 1; }

for v in DEPTH BATCH IMAGE_SIZE CLASSES STEPS WARMUP THREADS RUN_TIMEOUT; do
  [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer (got '${!v}')"
done
(( STEPS >= 1 )) || die "STEPS must be at least 1"
(( THREADS >= 1 )) || die "THREADS must be at least 1"
(( DEPTH >= 11 && (DEPTH - 2) % 9 == 0 )) || die "DEPTH must be 9n + 2 with n >= 1 (got $DEPTH)"
command -v "$PYTHON" >/dev/null 2>&1 || die "'$PYTHON' not found (set PYTHON=...)"
"$PYTHON" -c 'import torch' 2>/dev/null \
  || die "'$PYTHON' cannot import torch: python3 -m venv .venv-torch && .venv-torch/bin/pip install torch, then PYTHON=.venv-torch/bin/python3"

# Check the sublinear side before spending minutes on PyTorch.
train_help=""
if [[ "$TORCH_ONLY" != 1 ]]; then
  [[ -e "$SUBLINEAR" ]] || die "sublinear binary '$SUBLINEAR' not found: build it (cmake --build build) or set SUBLINEAR=/path/to/sublinear (TORCH_ONLY=1 runs only the PyTorch half)"
  [[ -x "$SUBLINEAR" && -f "$SUBLINEAR" ]] || die "'$SUBLINEAR' is not an executable file"
  # CLI11 answers `sublinear train --help` with the top-level help when there is no such
  # subcommand, so look for `train` in the list of subcommands instead.
  "$SUBLINEAR" --help 2>&1 | grep -Eq '^[[:space:]]+train([[:space:]]|$)' \
    || die "'$SUBLINEAR' has no 'train' command (not in its --help): rebuild a version with it, or set SUBLINEAR=... (TORCH_ONLY=1 runs only the PyTorch half)"
  train_help="$("$SUBLINEAR" train --help 2>&1)" || die "'$SUBLINEAR train --help' failed"
  [[ -f "$CONFIG" ]] || die "missing $CONFIG"
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/cpu_vs_torch.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
results="$tmp/results.jsonl"   # one JSON object per row of the table
: > "$results"

tmo=()
if command -v timeout >/dev/null 2>&1 && (( RUN_TIMEOUT > 0 )); then tmo=(timeout "$RUN_TIMEOUT"); fi

# Other processes competing for the cores skew both frameworks (OpenMP threads spin-wait badly
# when oversubscribed): say so up front.
if [[ -r /proc/loadavg ]]; then
  read -r load1 _ < /proc/loadavg
  if awk -v l="$load1" -v n="$(nproc)" 'BEGIN { exit !(l > 0.5 * n) }'; then
    echo "cpu_vs_torch: warning: load average $load1 on $(nproc) cores; the timings will be noisy" >&2
  fi
fi

echo "config: resnet_cifar depth $DEPTH, batch $BATCH, image ${IMAGE_SIZE}x${IMAGE_SIZE}, classes $CLASSES, $STEPS timed steps after $WARMUP warmup, $THREADS threads" >&2

# run_sublinear NAME POLICY: train, then reduce metrics.jsonl to one result row.
run_sublinear() {
  local name="$1" policy="$2" dir="$tmp/run-$2"
  local args=(train "$CONFIG"
    --set "model.params.depth=$DEPTH"
    --set "model.params.classes=$CLASSES"
    --set "model.params.image_size=$IMAGE_SIZE"
    --set "batch=$BATCH"
    --set "memory.policy=$policy"
    --steps "$((STEPS + WARMUP))"
    --run-dir "$dir")
  # Pass --threads only if this build's train command has it; OMP_NUM_THREADS covers the rest.
  if grep -q -- '--threads' <<<"$train_help"; then args+=(--threads "$THREADS"); fi
  echo "running: $SUBLINEAR ${args[*]}" >&2
  local t0=$SECONDS
  if ! OMP_NUM_THREADS="$THREADS" "${tmo[@]}" "$SUBLINEAR" "${args[@]}" >"$tmp/$policy.log" 2>&1; then
    echo "---- last lines of sublinear's output ----" >&2
    tail -n 20 "$tmp/$policy.log" >&2
    die "sublinear train ($name) failed"
  fi
  echo "  done in $((SECONDS - t0)) s" >&2
  [[ -s "$dir/metrics.jsonl" ]] || die "sublinear train ($name) wrote no $dir/metrics.jsonl"
  if [[ -n "${OUT:-}" ]]; then mkdir -p "$OUT"; cp "$dir/metrics.jsonl" "$OUT/sublinear_${policy}_metrics.jsonl"; fi
  "$PYTHON" - "$dir/metrics.jsonl" "$name" "$WARMUP" "$BATCH" >>"$results" <<'EOF'
import json, statistics, sys
path, name, warmup, batch = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
rows = []
with open(path) as f:
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(r, dict) and isinstance(r.get("step"), (int, float)):
            rows.append(r)
rows.sort(key=lambda r: r["step"])
timed = [r for r in rows[warmup:] if isinstance(r.get("samples_per_s"), (int, float))
         and r["samples_per_s"] > 0]
if not timed:
    sys.exit(f"cpu_vs_torch: {path}: no logged step with samples_per_s after {warmup} warmup "
             f"steps ({len(rows)} step records)")
sps = statistics.median(r["samples_per_s"] for r in timed)
def peak(key):
    vals = [r[key] for r in rows if isinstance(r.get(key), (int, float))]
    return max(vals) if vals else None
print(json.dumps({"framework": name, "samples_per_s": sps,
                  "step_ms_median": statistics.median(batch * 1e3 / r["samples_per_s"] for r in timed),
                  "timed_steps": len(timed), "arena_peak_bytes": peak("arena_peak_bytes"),
                  "planned_arena_bytes": peak("planned_arena_bytes"),
                  "rss_peak_bytes": peak("rss_peak_bytes")}))
EOF
}

if [[ "$TORCH_ONLY" != 1 ]]; then
  run_sublinear "sublinear" none
  if [[ "$SQRT" == 1 ]]; then run_sublinear "sublinear (sqrt)" sqrt; fi
fi

echo "running: $PYTHON bench/torch_resnet_cifar.py --depth $DEPTH --batch $BATCH ... --threads $THREADS" >&2
t0=$SECONDS
OMP_NUM_THREADS="$THREADS" "${tmo[@]}" "$PYTHON" "$here/torch_resnet_cifar.py" \
  --depth "$DEPTH" --batch "$BATCH" --image-size "$IMAGE_SIZE" --classes "$CLASSES" \
  --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json \
  | tail -n 1 >>"$results" || die "the PyTorch run failed"
echo "  done in $((SECONDS - t0)) s" >&2
if [[ "$COMPILE" == 1 ]]; then
  echo "running: $PYTHON bench/torch_resnet_cifar.py ... --compile" >&2
  t0=$SECONDS
  OMP_NUM_THREADS="$THREADS" "${tmo[@]}" "$PYTHON" "$here/torch_resnet_cifar.py" \
    --depth "$DEPTH" --batch "$BATCH" --image-size "$IMAGE_SIZE" --classes "$CLASSES" \
    --steps "$STEPS" --warmup "$WARMUP" --threads "$THREADS" --json --compile 2>"$tmp/compile.log" \
    | tail -n 1 >>"$results" || { tail -n 20 "$tmp/compile.log" >&2; die "the torch.compile run failed"; }
  echo "  done in $((SECONDS - t0)) s" >&2
fi

table="$("$PYTHON" - "$results" "$DEPTH" "$BATCH" "$IMAGE_SIZE" "$CLASSES" "$STEPS" "$WARMUP" "$THREADS" <<'EOF'
import json, sys
path, depth, batch, image, classes, steps, warmup, threads = sys.argv[1:]
rows = [json.loads(l) for l in open(path) if l.strip()]
torch = next((r for r in rows if r["framework"] == "pytorch"), None)
base = next((r for r in rows if r["framework"] == "sublinear"), None)
print(f"resnet_cifar depth {depth}, batch {batch}, image {image}x{image}, classes {classes}, "
      f"{threads} threads, median of {steps} steps after {warmup} warmup")
if torch:
    print(f"pytorch {torch.get('torch', '?')}, {torch['params']:,} parameters "
          f"({torch['conv2d']} conv2d, {torch['batch_norm']} batch_norm)")
hdr = (f"{'framework':<18} {'samples/s':>10} {'ms/step':>9} {'vs pytorch':>11} {'arena MiB':>10}"
       f" {'RSS MiB':>8}")
print(hdr)
print("-" * len(hdr))
for r in rows:
    ratio = (f"{r['samples_per_s'] / torch['samples_per_s']:.2f}x"
             if torch and r is not torch else "1.00x" if r is torch else "-")
    def mib(key):
        v = r.get(key)
        return f"{v / 2**20:.1f}" if isinstance(v, (int, float)) and v > 0 else "-"
    print(f"{r['framework']:<18} {r['samples_per_s']:>10.1f} {r['step_ms_median']:>9.1f} "
          f"{ratio:>11} {mib('arena_peak_bytes'):>10} {mib('rss_peak_bytes'):>8}")
compiled = next((r for r in rows if r["framework"] == "pytorch (compile)"), None)
if base and compiled:
    print(f"sublinear keep-everything step time vs torch.compile: "
          f"{compiled['samples_per_s'] / base['samples_per_s']:.2f}x (below 1 means faster)")
sq = next((r for r in rows if r["framework"] == "sublinear (sqrt)"), None)
if base and sq:
    print(f"recompute overhead (sqrt vs none): "
          f"{(base['samples_per_s'] / sq['samples_per_s'] - 1) * 100:+.1f}% time per step")
print("vs pytorch = samples/s ratio (sublinear / pytorch; above 1 means sublinear is faster); "
      "RSS = peak resident set of the whole process (pytorch's includes Python and libtorch)")
EOF
)"

printf '%s\n' "$table"
if [[ -n "${OUT:-}" ]]; then
  mkdir -p "$OUT"
  printf '%s\n' "$table" > "$OUT/cpu_vs_torch.txt"
  cp "$results" "$OUT/cpu_vs_torch.jsonl"
  echo "wrote $OUT/cpu_vs_torch.txt" >&2
fi

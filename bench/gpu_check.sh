#!/usr/bin/env bash
# The GPU check, run from the folder scripts/device_bundle.sh builds (nothing is built or installed on the
# GPU machine, which has the driver and CUDA but none of our packages). Stages, in order:
#   1. the device (nvidia-smi) and `sublinear --version` from the bundle,
#   2. cuda_tests: every CUDA kernel against the CPU's, GPU training against CPU training (losses equal
#      to the CPU's first steps), bitwise equality across memory strategies on the GPU, and the data-
#      parallel path with a single-rank NCCL communicator (skipped where the machine has no libnccl.so.2),
#   3. kernel_tests: the CPU kernels on that machine's CPU,
#   4. training with `sublinear train` on cuda:0, synthetic data: ResNet and the char LSTM under each of
#      POLICIES: samples/s (the last logged interval, past the warm-up), the planned and measured
#      feature-map arena, the program's device allocations and nvidia-smi's peak.
# A hard deadline holds by construction: every stage runs under `timeout` with at most the time left
# before DEADLINE (less a reserve for the summary), and a stage with no time left is reported as skipped.
# After every stage one block is appended to $OUT/gpu_check.txt, so whatever ends the run, what finished
# is on disk. $OUT receives at most 4 files: gpu_check.txt, cuda_tests.log, kernel_tests.log, train.log.
# Exit code: 0 when every stage that ran passed.
#
#   scripts/device_bundle.sh                    # here, on the development machine
#   OUT=/tmp/out build-device/gpu_check.sh      # on the GPU machine, carrying build-device
#
# Environment [defaults]: OUT [a new folder under /tmp]; BUNDLE, the folder with sublinear and cuda_tests
# [this script's folder, else build-device beside the repository root]; DEADLINE seconds for the whole
# check [420]; RESERVE seconds kept for the end [10]; TEST_TIMEOUT for cuda_tests [240];
# RUN_TIMEOUT per training run [45]; POLICIES ["none sqrt log"]; RESNET_DEPTH [50]; RESNET_BATCH [32];
# RESNET_IMAGE [224]; RESNET_STEPS [12]; LSTM_LAYERS [4]; LSTM_HIDDEN [1024]; LSTM_SEQ [256];
# LSTM_BATCH [32]; LSTM_STEPS [8]; DETERMINISTIC 1: deterministic cuDNN algorithms [0].
set -uo pipefail

start_s=$(date +%s)
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ -z "${BUNDLE:-}" ]]; then
  if [[ -x "$here/sublinear" ]]; then BUNDLE="$here"; else BUNDLE="$(cd "$here/.." && pwd)/build-device"; fi
fi
BUNDLE="$(cd "$BUNDLE" 2>/dev/null && pwd)" || { echo "gpu_check: no bundle folder (run scripts/device_bundle.sh)" >&2; exit 1; }
OUT="${OUT:-$(mktemp -d /tmp/gpu_check.XXXXXX)}"
DEADLINE="${DEADLINE:-420}"
RESERVE="${RESERVE:-10}"
TEST_TIMEOUT="${TEST_TIMEOUT:-240}"
RUN_TIMEOUT="${RUN_TIMEOUT:-45}"
POLICIES="${POLICIES:-none sqrt log}"
RESNET_DEPTH="${RESNET_DEPTH:-50}"
RESNET_BATCH="${RESNET_BATCH:-32}"
RESNET_IMAGE="${RESNET_IMAGE:-224}"
RESNET_STEPS="${RESNET_STEPS:-12}"
LSTM_LAYERS="${LSTM_LAYERS:-4}"
LSTM_HIDDEN="${LSTM_HIDDEN:-1024}"
LSTM_SEQ="${LSTM_SEQ:-256}"
LSTM_BATCH="${LSTM_BATCH:-32}"
LSTM_STEPS="${LSTM_STEPS:-8}"
DETERMINISTIC="${DETERMINISTIC:-0}"

mkdir -p "$OUT"
summary="$OUT/gpu_check.txt"
: > "$summary"
status=0
# The tests find the example models in the bundle; the CUDA libraries wherever the toolkit put them.
export SUBLINEAR_SOURCE_DIR="$BUNDLE"
export LD_LIBRARY_PATH="$BUNDLE:/usr/local/cuda/lib64:/usr/local/cuda/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

elapsed() { echo $(( $(date +%s) - start_s )); }
# Seconds a stage may take: its own cap, or what is left before the deadline less the reserve.
budget() {
  local left=$(( DEADLINE - RESERVE - $(elapsed) ))
  (( left > $1 )) && left=$1
  echo $(( left > 0 ? left : 0 ))
}
append() { printf '%s\n' "$@" >> "$summary"; printf 'gpu_check: %s\n' "$@"; }

append "sublinear GPU check, started $(date -u +%Y-%m-%dT%H:%M:%SZ), bundle $BUNDLE, deadline ${DEADLINE}s"

# --- 1. device and version ---------------------------------------------------------------------------
if command -v nvidia-smi >/dev/null 2>&1; then
  append "device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -1)"
else
  append "device: nvidia-smi not found (device memory will not be reported)"
fi
if version="$(timeout 30 "$BUNDLE/sublinear" --version 2>&1)"; then
  append "version:" "$(sed 's/^/  /' <<< "$version")"
else
  append "version: FAILED: $(tail -3 <<< "$version")"
  status=1
fi

# --- 2, 3. test binaries -----------------------------------------------------------------------------
run_tests() {  # binary cap
  local bin="$1" cap="$2" t
  t=$(budget "$cap")
  if (( t <= 0 )); then
    append "$bin: skipped (no time left before the ${DEADLINE}s deadline)"
    return
  fi
  local t0=$(elapsed) rc=0
  timeout "$t" "$BUNDLE/$bin" > "$OUT/$bin.log" 2>&1 || rc=$?
  local took=$(( $(elapsed) - t0 ))
  if (( rc == 0 )); then
    append "$bin: $(grep -E '^\[  PASSED  \]' "$OUT/$bin.log" | tail -1) $(grep -E '^\[  SKIPPED \] [0-9]+' "$OUT/$bin.log" | tail -1) (${took}s)"
  else
    status=1
    append "$bin: $( (( rc == 124 )) && echo "TIMEOUT after ${t}s" || echo "FAILED rc=$rc") (${took}s); failures:"
    append "$(grep -E '^\[  FAILED  \]|Failure$|error:' "$OUT/$bin.log" | head -30 | sed 's/^/  /')"
  fi
}
run_tests cuda_tests "$TEST_TIMEOUT"
run_tests kernel_tests 90

# --- 4. training -------------------------------------------------------------------------------------
gib() { awk -v b="$1" 'BEGIN { if (b == "" || b == "-" || b < 0) print "-"; else printf "%.2f", b / 1073741824 }'; }
# The last metrics line: samples/s, measured arena, planned arena, loss, step, device allocations.
last_metrics() {
  tail -n 1 "$1" 2>/dev/null | awk '
    function field(k,   m) { if (match($0, "\"" k "\":[-0-9.eE+]+")) { m = substr($0, RSTART, RLENGTH); sub(/^[^:]*:/, "", m); return m } return "-" }
    { printf "%s %s %s %s %s %s\n", field("samples_per_s"), field("arena_peak_bytes"), field("planned_arena_bytes"),
             field("loss"), field("step"), field("device_allocated_bytes") }
    END { if (NR == 0) print "- - - - - -" }'
}
row() { printf '%-7s %-6s %10s %10s %12s %14s %15s %9s %6s  %s\n' "$@"; }

work="$(mktemp -d /tmp/gpu_check_runs.XXXXXX)"
header_done=0
train_run() {  # name model params batch steps policy
  local name="$1" model="$2" params="$3" batch="$4" steps="$5" policy="$6"
  if (( ! header_done )); then
    append "" "training on cuda:0, synthetic data, SGD with momentum: resnet depth $RESNET_DEPTH batch $RESNET_BATCH" \
      "(${RESNET_IMAGE}px, $RESNET_STEPS steps); char_lstm ${LSTM_LAYERS}x$LSTM_HIDDEN seq_len $LSTM_SEQ batch $LSTM_BATCH" \
      "($LSTM_STEPS steps). samples/s: the last logged interval. arena: feature maps, measured by the program" \
      "and planned (GiB); allocated: the program's device allocations; device peak: nvidia-smi memory.used." \
      "$(row model policy samples/s 'arena' 'planned' 'allocated' 'device peak' loss time outcome)"
    header_done=1
  fi
  local t
  t=$(budget "$RUN_TIMEOUT")
  if (( t <= 5 )); then
    append "$(row "$name" "$policy" - - - - - - - "skipped: no time left before the ${DEADLINE}s deadline")"
    return
  fi
  local dir="$work/$name-$policy" every=$(( steps / 4 > 0 ? steps / 4 : 1 ))
  mkdir -p "$dir"
  cat > "$dir/experiment.yaml" <<EOF
model:
  file: $BUNDLE/examples/$model
  params: {$params}
batch: $batch
device: cuda:0
deterministic: $([[ "$DETERMINISTIC" == 1 ]] && echo true || echo false)
seed: 0
data:
  kind: synthetic
memory:
  policy: $policy
optimizer:
  kind: sgd
  lr: 0.01
  momentum: 0.9
steps: $steps
log:
  every: $every
checkpoint:
  every: 0
run_dir: $dir/run
EOF
  local smi_pid="" mem="$dir/memory_used_mib.txt"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 250 > "$mem" 2>/dev/null &
    smi_pid=$!
  fi
  local t0=$(elapsed) rc=0
  timeout "$t" "$BUNDLE/sublinear" train "$dir/experiment.yaml" > "$dir/train.log" 2>&1 || rc=$?
  local took=$(( $(elapsed) - t0 ))
  [[ -n "$smi_pid" ]] && { kill "$smi_pid" 2>/dev/null; wait "$smi_pid" 2>/dev/null; }
  local peak="-"
  [[ -s "$mem" ]] && peak=$(sort -n "$mem" | tail -1 | awk '{ printf "%.2f", $1 / 1024 }')
  { echo "=== $name $policy (rc=$rc, ${took}s) ==="; tail -n 25 "$dir/train.log"; } >> "$OUT/train.log"
  read -r sps arena planned loss done_steps allocated < <(last_metrics "$dir/run/metrics.jsonl")
  local outcome="ok"
  if (( rc != 0 )); then
    status=1
    outcome="FAILED rc=$rc: $(grep -v '^\s*$' "$dir/train.log" | tail -1 | cut -c1-100)"
    (( rc == 124 )) && outcome="TIMEOUT after ${t}s (step $done_steps)"
  fi
  append "$(row "$name" "$policy" "$sps" "$(gib "$arena")" "$(gib "$planned")" "$(gib "$allocated")" "$peak" "$loss" "${took}s" "$outcome")"
}

for policy in $POLICIES; do
  train_run resnet resnet.snet "depth: $RESNET_DEPTH, classes: 1000, image_size: $RESNET_IMAGE" \
    "$RESNET_BATCH" "$RESNET_STEPS" "$policy"
done
for policy in $POLICIES; do
  train_run lstm char_lstm.snet "vocab: 256, embed: 50, layers: $LSTM_LAYERS, hidden: $LSTM_HIDDEN, seq_len: $LSTM_SEQ" \
    "$LSTM_BATCH" "$LSTM_STEPS" "$policy"
done
rm -rf "$work"

append "" "finished after $(elapsed)s, exit $status"
exit "$status"

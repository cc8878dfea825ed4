#!/usr/bin/env bash
# The GPU check, in one script for a machine with an NVIDIA GPU (sized for an H200: under 8 minutes):
#   1. builds with CUDA (Release, tests on) in build-gpu/: the CLI, cuda_tests and the CPU test binaries
#      of stage 2,
#   2. runs cuda_tests (every CUDA kernel against the CPU's, GPU training against CPU training, bitwise
#      equality across memory strategies on the GPU), the generated CUDA trainer against `sublinear train`
#      on the GPU (codegen_tests CompiledTrainers.Cuda*) and the CPU kernel/runtime/training tests
#      without their long learning runs,
#   3. trains ResNet (examples/resnet.snet) and the char LSTM (examples/char_lstm.snet) for a few steps
#      with `sublinear train` on device cuda:0 and synthetic data under memory.policy none, sqrt and log,
#      and reports samples/s (the last logged interval, past the warm-up), the planned and measured
#      feature-map arena (metrics.jsonl) and the device memory in use (nvidia-smi's peak during the run).
# The summary table goes to stdout and, when OUT is set, to $OUT/gpu_check.txt (with each run's log and
# metrics under $OUT/gpu_runs/). A failing stage is reported in the table and the script goes on; the
# exit code is non-zero when the build, a test stage or a training run failed.
#
#   bench/gpu_check.sh
#   OUT=/tmp/out SKIP_BUILD=1 bench/gpu_check.sh
#
# Environment (defaults in brackets):
#   BUILD_DIR     [build-gpu]          SKIP_BUILD   1: reuse BUILD_DIR as it is [0]
#   SKIP_TESTS    1: skip stage 2 [0]   SKIP_BENCH   1: skip stage 3 [0]
#   JOBS          build parallelism [nproc]
#   RESNET_DEPTH  [152]   RESNET_BATCH [32]   RESNET_STEPS [20]   RESNET_IMAGE [224]
#   LSTM_LAYERS   [4]     LSTM_HIDDEN  [1024] LSTM_SEQ     [512]  LSTM_BATCH   [32]   LSTM_STEPS [10]
#   POLICIES      ["none sqrt log"]
#   RUN_TIMEOUT   seconds per training run [90]
#   TEST_TIMEOUT  seconds for cuda_tests [240]
#   CPU_TESTS     CPU test binaries run in stage 2, or none ["kernel_tests runtime_tests train_tests"]
#   CPU_TEST_EXCLUDE  gtest negative filter for them ["Learning.*:ModelGradients.ResidualCnn*"]
#   DEADLINE      seconds after which no further training run starts (each is reported as skipped) [450]
#   DETERMINISTIC 1: deterministic cuDNN algorithms in the benchmark [0]
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

BUILD_DIR="${BUILD_DIR:-build-gpu}"
SKIP_BUILD="${SKIP_BUILD:-0}"
SKIP_TESTS="${SKIP_TESTS:-0}"
SKIP_BENCH="${SKIP_BENCH:-0}"
JOBS="${JOBS:-$(nproc)}"
RESNET_DEPTH="${RESNET_DEPTH:-152}"
RESNET_BATCH="${RESNET_BATCH:-32}"
RESNET_STEPS="${RESNET_STEPS:-20}"
RESNET_IMAGE="${RESNET_IMAGE:-224}"
LSTM_LAYERS="${LSTM_LAYERS:-4}"
LSTM_HIDDEN="${LSTM_HIDDEN:-1024}"
LSTM_SEQ="${LSTM_SEQ:-512}"
LSTM_BATCH="${LSTM_BATCH:-32}"
LSTM_STEPS="${LSTM_STEPS:-10}"
POLICIES="${POLICIES:-none sqrt log}"
RUN_TIMEOUT="${RUN_TIMEOUT:-90}"
TEST_TIMEOUT="${TEST_TIMEOUT:-240}"
CPU_TESTS="${CPU_TESTS:-kernel_tests runtime_tests train_tests}"
[[ "$CPU_TESTS" == none ]] && CPU_TESTS=""
CPU_TEST_EXCLUDE="${CPU_TEST_EXCLUDE:-Learning.*:ModelGradients.ResidualCnn*}"
DEADLINE="${DEADLINE:-450}"
DETERMINISTIC="${DETERMINISTIC:-0}"

start_s=$(date +%s)
status=0
report=()
note() { report+=("$*"); echo "gpu_check: $*"; }
elapsed() { echo $(( $(date +%s) - start_s ))s; }

work="${OUT:+$OUT/gpu_runs}"
work="${work:-$(mktemp -d /tmp/gpu_check.XXXXXX)}"
mkdir -p "$work"

note "started $(date -u +%Y-%m-%dT%H:%M:%SZ) in $root"
if command -v nvidia-smi >/dev/null 2>&1; then
  note "device: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | head -1)"
else
  note "nvidia-smi not found: device memory will not be reported"
fi

# --- 1. build ----------------------------------------------------------------------------------------
if [[ "$SKIP_BUILD" != 1 ]]; then
  if cmake -S "$root" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DSUBLINEAR_BUILD_TESTS=ON \
       > "$work/configure.log" 2>&1 \
     && cmake --build "$BUILD_DIR" -j "$JOBS" --target sublinear cuda_tests codegen_tests $CPU_TESTS > "$work/build.log" 2>&1; then
    note "build: ok ($(elapsed))"
  else
    note "build: FAILED (see $work/configure.log and $work/build.log); last lines:"
    tail -20 "$work/build.log" 2>/dev/null || tail -20 "$work/configure.log"
    status=1
  fi
fi
if ! grep -q "SUBLINEAR_WITH_CUDA:BOOL=ON" "$BUILD_DIR/CMakeCache.txt" 2>/dev/null \
   || [[ ! -x "$BUILD_DIR/cuda_tests" ]]; then
  note "no CUDA build in $BUILD_DIR (cuda_tests missing): is nvcc at /usr/local/cuda/bin?"
  status=1
fi

# --- 2. tests ----------------------------------------------------------------------------------------
if [[ "$SKIP_TESTS" != 1 && -x "$BUILD_DIR/cuda_tests" ]]; then
  if timeout "$TEST_TIMEOUT" "$BUILD_DIR/cuda_tests" > "$work/cuda_tests.log" 2>&1; then
    note "cuda_tests: $(grep -E '^\[  PASSED  \]' "$work/cuda_tests.log" | tail -1) $(grep -E '^\[  SKIPPED \] [0-9]+ test' "$work/cuda_tests.log" | tail -1) ($(elapsed))"
  else
    note "cuda_tests: FAILED ($(elapsed)); failures:"
    while read -r l; do note "  $l"; done < <(grep -E '^\[  FAILED  \]|Failure|error' "$work/cuda_tests.log" | head -40)
    status=1
  fi
  # `sublinear compile --backend cuda`: the trainer it builds, bitwise `sublinear train` on the device.
  if timeout 180 "$BUILD_DIR/codegen_tests" --gtest_filter='CompiledTrainers.Cuda*' > "$work/codegen_cuda.log" 2>&1 \
     && ! grep -q '^\[  SKIPPED \]' "$work/codegen_cuda.log"; then
    note "generated CUDA trainer: $(grep -E '^\[  PASSED  \]' "$work/codegen_cuda.log" | tail -1) ($(elapsed))"
  else
    note "generated CUDA trainer: FAILED or skipped ($(elapsed)):"
    while read -r l; do note "  $l"; done < <(grep -E 'FAILED|Failure|Skipped|error' "$work/codegen_cuda.log" | head -20)
    status=1
  fi
  # The CPU suite's kernel, runtime and training tests without the long learning runs (minutes on a CPU,
  # and not about the GPU); the parser and planner suites do not touch a backend.
  for t in $CPU_TESTS; do
    if [[ ! -x "$BUILD_DIR/$t" ]]; then
      note "$t: not built"
      status=1
    elif timeout 240 "$BUILD_DIR/$t" --gtest_filter="-$CPU_TEST_EXCLUDE" > "$work/$t.log" 2>&1; then
      note "$t: $(grep -E '^\[  PASSED  \]' "$work/$t.log" | tail -1) ($(elapsed))"
    else
      note "$t: FAILED ($(elapsed)); failures:"
      while read -r l; do note "  $l"; done < <(grep -E '^\[  FAILED  \]' "$work/$t.log" | head -20)
      status=1
    fi
  done
fi

# --- 3. benchmark ------------------------------------------------------------------------------------
gib() { awk -v b="$1" 'BEGIN { if (b == "" || b < 0) print "-"; else printf "%.2f", b / 1073741824 }'; }

# Summary of one run's metrics.jsonl: "samples/s arena_peak planned_arena final_loss steps allocated".
summarise() {
  python3 - "$1" <<'PY'
import json, sys
rows = []
try:
    with open(sys.argv[1]) as f:
        rows = [json.loads(l) for l in f if l.strip()]
except OSError:
    pass
if not rows:
    print("- - - - 0 -")
    sys.exit()
last = rows[-1]
# The last logged interval: the first one includes cuDNN's algorithm queries and warm-up.
sps = last.get("samples_per_s")
print(f'{sps:.1f}' if isinstance(sps, (int, float)) else "-",
      last.get("arena_peak_bytes", -1), last.get("planned_arena_bytes", -1),
      f'{last.get("loss"):.4f}' if isinstance(last.get("loss"), (int, float)) else "-", last.get("step", 0),
      last.get("device_allocated_bytes", -1))
PY
}

table=()
run_train() {  # name model_file params batch steps policy
  local name="$1" model="$2" params="$3" batch="$4" steps="$5" policy="$6"
  local dir="$work/$name-$policy" log_every=$(( steps / 4 > 0 ? steps / 4 : 1 ))
  if (( $(date +%s) - start_s > DEADLINE )); then
    table+=("$(printf '%-8s %-6s %10s %12s %12s %14s %14s %9s %7s  %s' "$name" "$policy" - - - - - - - \
      "skipped: past the ${DEADLINE}s deadline")")
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  cat > "$dir/experiment.yaml" <<EOF
model:
  file: $root/examples/$model
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
  every: $log_every
run_dir: $dir/run
EOF
  local smi_pid="" mem_file="$dir/memory_used_mib.txt"
  if command -v nvidia-smi >/dev/null 2>&1; then
    nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 250 > "$mem_file" 2>/dev/null &
    smi_pid=$!
  fi
  local t0=$(date +%s) rc=0
  timeout "$RUN_TIMEOUT" "$BUILD_DIR/sublinear" train "$dir/experiment.yaml" > "$dir/train.log" 2>&1 || rc=$?
  local secs=$(( $(date +%s) - t0 ))
  [[ -n "$smi_pid" ]] && kill "$smi_pid" 2>/dev/null && wait "$smi_pid" 2>/dev/null
  local peak_mib="-"
  [[ -s "$mem_file" ]] && peak_mib=$(sort -n "$mem_file" | tail -1)
  read -r sps arena planned loss done_steps allocated < <(summarise "$dir/run/metrics.jsonl")
  local outcome="ok"
  if (( rc != 0 )); then
    status=1
    outcome="FAILED rc=$rc: $(grep -v '^\s*$' "$dir/train.log" | tail -1 | cut -c1-120)"
    (( rc == 124 )) && outcome="TIMEOUT after ${RUN_TIMEOUT}s"
  fi
  table+=("$(printf '%-8s %-6s %10s %12s %12s %14s %14s %9s %7s  %s' "$name" "$policy" "$sps" "$(gib "$arena")" \
    "$(gib "$planned")" "$(gib "$allocated")" "$([[ "$peak_mib" == - ]] && echo - || awk -v m="$peak_mib" 'BEGIN{printf "%.2f", m/1024}')" \
    "$loss" "${secs}s" "$outcome")")
  echo "gpu_check: $name/$policy: $outcome, $sps samples/s, $(elapsed) so far"
}

if [[ "$SKIP_BENCH" != 1 && -x "$BUILD_DIR/sublinear" ]]; then
  for policy in $POLICIES; do
    run_train resnet resnet.snet "depth: $RESNET_DEPTH, classes: 1000, image_size: $RESNET_IMAGE" \
      "$RESNET_BATCH" "$RESNET_STEPS" "$policy"
  done
  for policy in $POLICIES; do
    run_train lstm char_lstm.snet \
      "vocab: 256, embed: 50, layers: $LSTM_LAYERS, hidden: $LSTM_HIDDEN, seq_len: $LSTM_SEQ" \
      "$LSTM_BATCH" "$LSTM_STEPS" "$policy"
  done
fi

summary="$work/summary.txt"
{
  echo "sublinear GPU check ($(elapsed) in all)"
  for l in "${report[@]}"; do echo "  $l"; done
  if (( ${#table[@]} > 0 )); then
    echo
    echo "training on cuda:0, synthetic data: resnet depth $RESNET_DEPTH batch $RESNET_BATCH (${RESNET_IMAGE}px, $RESNET_STEPS steps);"
    echo "char_lstm ${LSTM_LAYERS}x$LSTM_HIDDEN seq_len $LSTM_SEQ batch $LSTM_BATCH ($LSTM_STEPS steps). samples/s: last logged interval."
    echo "arena = feature maps (GiB), measured by the program and planned; allocated = the program's device"
    echo "allocations (arena, workspace, persistent, library buffers); device peak = nvidia-smi memory.used."
    printf '%-8s %-6s %10s %12s %12s %14s %14s %9s %7s  %s\n' model policy samples/s "arena GiB" "planned GiB" \
      "allocated GiB" "device peak GiB" loss time outcome
    for l in "${table[@]}"; do echo "$l"; done
  fi
} > "$summary"
cat "$summary"
if [[ -n "${OUT:-}" ]]; then
  mkdir -p "$OUT"
  cp "$summary" "$OUT/gpu_check.txt"
fi
exit "$status"

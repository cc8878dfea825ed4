#!/usr/bin/env bash
# The sanitizer and fuzzing job (CI runs it after ./test.sh): a clang build of everything but the CUDA
# backend with AddressSanitizer, UndefinedBehaviorSanitizer and libFuzzer's coverage instrumentation;
# the unit tests of the IR, frontend, planner, CPU kernels, data and training layers, the CLI tests and
# the fuzz corpus replays run under the sanitizers; then each fuzz target runs for FUZZ_SECONDS on its
# seeds (the examples and tests/fuzz/corpus), failing on a crash, a sanitizer report, an input slower
# than 10 s here (2 s in an optimised build: the replays in ./test.sh check that) or one that takes more
# than 2 GB.
#
#   scripts/sanitize_and_fuzz.sh                   # BUILD=build-san FUZZ_SECONDS=60
#   FUZZ_SECONDS=3600 scripts/sanitize_and_fuzz.sh # a longer campaign; new crashes land in $BUILD/fuzz-*
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD="${BUILD:-build-san}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
jobs=$(nproc 2>/dev/null || echo 2)
# No plug-ins: the CUDA backend is not built, and the MPI plug-in is left out (an ASan-instrumented shared
# object cannot link with --no-undefined, and Open MPI's own allocations would read as leaks); the
# data-parallel tests skip, while the reducer, shard and batch-axis unit tests still run sanitized.
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_C_COMPILER=clang-14 \
  -DSUBLINEAR_WITH_CUDA=OFF -DSUBLINEAR_WITH_MPI=OFF -DSUBLINEAR_SANITIZE=ON -DSUBLINEAR_FUZZ=ON \
  -DSUBLINEAR_BUILD_TESTS=ON >/dev/null
targets=(sublinear ir_tests frontend_tests planner_tests kernel_tests data_tests train_tests runtime_tests
         snet_fuzz_replay experiment_fuzz_replay fuzz_snet fuzz_experiment)
cmake --build "$BUILD" -j "$jobs" --target "${targets[@]}"

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Instrumented code runs 3 to 10 times slower: the 2 s an input may take in an optimised build (the
# corpus replays in ./test.sh hold it to that) is 10 s here.
export FUZZ_REPLAY_SECONDS=10
# The binaries not built here (CUDA, codegen: generated trainers are built by the system compiler), the
# install-list check (it inspects the main build) and the solver-against-MILP searches (minutes of CBC
# and of exhaustive plan enumeration, with time limits sized for an optimised build) are left to ./test.sh.
ctest --test-dir "$BUILD" -j "$jobs" --output-on-failure -E '_NOT_BUILT|^Install\.|Codegen|CompiledTrainers|Cuda|SolverWithinFivePercent'

mkdir -p "$BUILD/fuzz-snet" "$BUILD/fuzz-experiment"
fuzz() {  # target, then seed folders and files
  local target="$1"; shift
  local work="$BUILD/${target/_/-}"
  local seeds="$work/seeds"
  rm -rf "$seeds" && mkdir -p "$seeds"
  for s in "$@"; do if [[ -d "$s" ]]; then cp "$s"/* "$seeds"/ 2>/dev/null || true; else cp "$s" "$seeds"/; fi; done
  echo "fuzz: $target for ${FUZZ_SECONDS} s"
  (cd "$work" && "../$target" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
     -print_final_stats=1 corpus seeds 2>&1 | tail -n 20) || { echo "fuzz: $target found a fault (see $work)"; exit 1; }
}
mkdir -p "$BUILD/fuzz-snet/corpus" "$BUILD/fuzz-experiment/corpus"
fuzz fuzz_snet tests/fuzz/corpus/snet examples tests/golden
fuzz fuzz_experiment tests/fuzz/corpus/experiment examples/quickstart.yaml examples/lstm_long.yaml \
  examples/imagenet_resnet.yaml bench/resnet_cifar_bench.yaml bench/lstm_bench.yaml
echo "sanitize_and_fuzz: ok"

#!/usr/bin/env bash
# Builds the folder a GPU machine runs (bench/gpu_check.sh) where none of our Debian packages and no
# network are: the CLI, its CUDA plug-in, cuda_tests and kernel_tests, every shared library they need
# except the CUDA toolkit's and the C/C++ runtime's, the example models and the check script; binaries
# stripped, each finding the libraries beside it ($ORIGIN rpath, set by CMakeLists.txt). Checks that the
# folder stays under 64 MiB and that, per ldd, nothing else is needed from outside; then, with --check,
# runs `sublinear --version` and the test binaries from the folder (the GPU tests skip without a GPU).
#
#   scripts/device_bundle.sh [--check]
#   BUILD_DIR=build-gpu OUT_DIR=/tmp/bundle scripts/device_bundle.sh
#
# Environment [defaults]: BUILD_DIR, a Release build with CUDA for sm_90, configured here when it is not
# one yet [build]; OUT_DIR [build-device]; JOBS [nproc]; LIMIT_MIB [64].
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
BUILD_DIR="${BUILD_DIR:-build}"
OUT_DIR="${OUT_DIR:-build-device}"
JOBS="${JOBS:-$(nproc)}"
LIMIT_MIB="${LIMIT_MIB:-64}"
check=0
for a in "$@"; do
  case "$a" in
    --check) check=1 ;;
    *) echo "device_bundle: unknown argument '$a' (takes --check)" >&2; exit 2 ;;
  esac
done
die() { echo "device_bundle: $*" >&2; exit 1; }

cache="$BUILD_DIR/CMakeCache.txt"
# CMakeLists.txt defaults the CUDA architecture to 90 (the H200s), so an unset one is fine.
arch="$(grep -E '^CMAKE_CUDA_ARCHITECTURES:' "$cache" 2>/dev/null | cut -d= -f2 || true)"
if ! grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$cache" 2>/dev/null || [[ -n "$arch" && "$arch" != 90 ]]; then
  cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES=90 -DSUBLINEAR_BUILD_TESTS=ON \
    >/dev/null
fi
grep -q '^SUBLINEAR_WITH_CUDA:BOOL=ON$' "$cache" || die "$BUILD_DIR is configured without CUDA"
cmake --build "$BUILD_DIR" -j "$JOBS" --target sublinear sublinear_cuda_backend cuda_tests kernel_tests >/dev/null
[[ -f "$BUILD_DIR/libsublinear_cuda_backend.so" ]] || die "no CUDA plug-in in $BUILD_DIR: is nvcc at /usr/local/cuda/bin?"

binaries=(sublinear libsublinear_cuda_backend.so cuda_tests kernel_tests)
rm -rf "$OUT_DIR"
mkdir -p "$OUT_DIR"
for b in "${binaries[@]}"; do
  cp "$BUILD_DIR/$b" "$OUT_DIR/$b"
  strip --strip-unneeded "$OUT_DIR/$b"
done

# Left outside: the CUDA toolkit's libraries (the GPU machine has its own) and the C/C++ runtime.
outside='^(libcuda|libcudart|libcublas|libcublasLt|libcudnn|libnccl|libnvrtc|libc|libm|libdl|libpthread|librt|ld-linux-x86-64|linux-vdso|libstdc\+\+|libgcc_s)\.so'
# The closure of what the binaries need, through the libraries' own dependencies.
declare -A seen=()
queue=("${binaries[@]/#/$OUT_DIR/}")
while (( ${#queue[@]} > 0 )); do
  f="${queue[0]}"
  queue=("${queue[@]:1}")
  while read -r name path; do
    [[ "$name" =~ $outside ]] && continue
    [[ -n "${seen[$name]:-}" ]] && continue
    seen[$name]=1
    [[ -f "$path" ]] || die "$f needs $name, which is not found here"
    cp -L "$path" "$OUT_DIR/$name"
    queue+=("$OUT_DIR/$name")
  done < <(ldd "$f" | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 } $2 == "=>" && $3 == "not" { print $1, "-" }')
done

# What the check runs: the script and the models the tests and benchmarks load (SUBLINEAR_SOURCE_DIR
# points the tests here; the data is synthetic).
cp bench/gpu_check.sh "$OUT_DIR/gpu_check.sh"
mkdir -p "$OUT_DIR/examples" "$OUT_DIR/tests/runtime/models"
cp examples/*.snet "$OUT_DIR/examples/"
cp tests/runtime/models/*.snet "$OUT_DIR/tests/runtime/models/"

# Every library our binaries resolve, through the libraries' own dependencies (ldd follows them under
# the binary's rpath, as the loader does), must be the folder's own, the CUDA toolkit's or the C/C++
# runtime's. (A copied library checked alone would not show this: it has no rpath of its own.)
bad=""
for b in "${binaries[@]}"; do
  f="$OUT_DIR/$b"
  while read -r name path; do
    [[ "$name" =~ $outside ]] && continue
    [[ "$path" == "$(cd "$OUT_DIR" && pwd)/$name" ]] || bad+="  $(basename "$f") -> $name at $path"$'\n'
  done < <(ldd "$f" | awk '$2 == "=>" { print $1, $3 }')
done
[[ -z "$bad" ]] || die "libraries resolved outside the folder:"$'\n'"$bad"

bytes=$(du -sb "$OUT_DIR" | cut -f1)
mib=$(awk -v b="$bytes" 'BEGIN { printf "%.1f", b / 1048576 }')
echo "device_bundle: $OUT_DIR: $(ls "$OUT_DIR" | wc -l) entries, $mib MiB (limit $LIMIT_MIB MiB)"
(( bytes <= LIMIT_MIB * 1048576 )) || die "the bundle is $mib MiB, over the $LIMIT_MIB MiB a device run carries"

if (( check )); then
  (cd "$OUT_DIR" && ./sublinear --version)
  (cd "$OUT_DIR" && ./sublinear check examples/mlp.snet >/dev/null) || die "sublinear check failed from the bundle"
  (cd "$OUT_DIR" && SUBLINEAR_SOURCE_DIR="$PWD" ./cuda_tests --gtest_brief=1 >/tmp/device_bundle_cuda_tests.log 2>&1) \
    || { tail -30 /tmp/device_bundle_cuda_tests.log; die "cuda_tests failed from the bundle"; }
  echo "device_bundle: cuda_tests from the bundle: $(grep -E '^\[  PASSED  \]' /tmp/device_bundle_cuda_tests.log | tail -1)" \
       "$(grep -E '^\[  SKIPPED \] [0-9]+' /tmp/device_bundle_cuda_tests.log | tail -1)"
  (cd "$OUT_DIR" && ./kernel_tests --gtest_brief=1 >/tmp/device_bundle_kernel_tests.log 2>&1) \
    || { tail -30 /tmp/device_bundle_kernel_tests.log; die "kernel_tests failed from the bundle"; }
  echo "device_bundle: kernel_tests from the bundle: $(grep -E '^\[  PASSED  \]' /tmp/device_bundle_kernel_tests.log | tail -1)"
fi

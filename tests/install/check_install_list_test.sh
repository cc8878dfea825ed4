#!/usr/bin/env bash
# scripts/check_install_list.sh passes on the real list and fails, naming the package, when a package the
# build needs is taken off it, although every package is still installed on this machine: the situation
# that once kept CI green while ./run.sh failed on every fresh machine. Usage: BUILD_DIR SOURCE_DIR.
set -uo pipefail
build=$1
check="$2/scripts/check_install_list.sh"
fail() { echo "FAIL: $*"; exit 1; }

out=$("$check" "$build" 2>&1); rc=$?
echo "$out"
[[ $rc -eq 0 ]] || fail "the check fails on the full list (exit $rc)"

# Each found a different way: a library only dnnl's CMake config asks for (the original bug), headers
# of a header-only library, a library the binaries load, the grammar tool, the compiler behind c++, and
# a library only the linker opens (-luuid; the programs then load libuuid.so.1 of a required package).
drops=(ocl-icd-opencl-dev libcli11-dev libyaml-cpp-dev antlr4 g++ uuid-dev)
args=()
for p in "${drops[@]}"; do args+=(--drop "$p"); done
out=$("$check" "$build" "${args[@]}" 2>&1); rc=$?
echo "$out"
[[ $rc -eq 1 ]] || fail "with ${drops[*]} dropped the check exits $rc, not 1"
for p in "${drops[@]}"; do
  grep -q "package $p is used by the build but scripts/install_deps.sh does not install it" <<< "$out" \
    || fail "with $p dropped the check does not name it"
done
grep -q "libOpenCL.so  (CMakeCache.txt: .*OpenCL_LIBRARY" <<< "$out" || fail "libOpenCL.so is not shown as the reason"

out=$("$check" /nonexistent 2>&1); rc=$?
[[ $rc -eq 2 ]] || fail "a missing build folder exits $rc, not 2: $out"
echo "ok"

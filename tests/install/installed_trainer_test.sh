#!/usr/bin/env bash
# `cmake --install` into a fresh prefix, then the installed CLI compiles a trainer against the installed
# libraries and headers (not the build tree's), and the trainer trains. Usage: BUILD_DIR SOURCE_DIR.
set -euo pipefail
build=$1
src=$2
prefix=$(mktemp -d "${TMPDIR:-/tmp}/sublinear_install.XXXXXX")
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build" --prefix "$prefix" > "$prefix/install.log"
for f in bin/sublinear lib/sublinear/libsublinear_runtime.a include/sublinear/codegen/program_support.h \
         include/sublinear/train/trainer.h; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done

cat > "$prefix/mlp.yaml" <<YAML
model:
  file: $src/examples/mlp.snet
  params: {features: 8, hidden: 16, classes: 3}
batch: 4
device: cpu
data:
  kind: synthetic
steps: 2
log:
  every: 1
YAML

out=$("$prefix/bin/sublinear" compile "$prefix/mlp.yaml" -o "$prefix/trainer" 2>&1) || { echo "$out"; exit 1; }
echo "$out"
# The installed libraries, and nothing of the build tree, on the trainer's compile line.
case "$out" in
  *"against the libraries in $prefix/lib/sublinear"*) ;;
  *) echo "the installed CLI did not link the installed libraries"; exit 1 ;;
esac
"$prefix/bin/sublinear" compile "$prefix/mlp.yaml" -o "$prefix/t2" --emit-source-only > /dev/null

"$prefix/trainer" "$prefix/mlp.yaml" --quiet --run-dir "$prefix/run"
lines=$(wc -l < "$prefix/run/metrics.jsonl")
[ "$lines" -eq 2 ] || { echo "expected 2 metrics lines, got $lines"; exit 1; }
echo "installed trainer ran 2 steps"

#!/usr/bin/env bash
# Installs what is missing, builds in Release, and runs the main job on an embedded default:
# `sublinear check` on every bundled example.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" --target sublinear
status=0
for model in examples/*.snet; do
  echo "== sublinear check $model"
  ./build/sublinear check "$model" --batch 32 || status=1
done
exit $status

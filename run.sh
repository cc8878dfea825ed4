#!/usr/bin/env bash
# Installs what is missing, builds in Release, and runs the main job on an embedded default: trains
# examples/quickstart.yaml (a small CNN on learnable synthetic images, about half a minute on two
# cores) after printing its memory plan. Extra arguments go to `sublinear train` (e.g. --steps 50).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs" --target sublinear
./build/sublinear train examples/quickstart.yaml --run-dir runs/quickstart "$@"

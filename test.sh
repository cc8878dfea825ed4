#!/usr/bin/env bash
# Installs what is missing, builds (Release with internal checks on, with tests), checks that the install
# list covers everything the build used, and runs the whole suite through ctest.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install_deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DSUBLINEAR_BUILD_TESTS=ON >/dev/null
cmake --build build -j "$jobs"
# A fresh machine has only what install_deps.sh installs: prove the build used nothing else.
./scripts/check_install_list.sh build
ctest --test-dir build --output-on-failure -j "$jobs"

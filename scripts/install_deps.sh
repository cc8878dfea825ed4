#!/usr/bin/env bash
# Installs the Debian packages sublinear's build, tests and benchmarks use. Idempotent and quiet when
# all is present. `--list` prints the list, one package a line, and installs nothing.
#
# The list is the contract with a fresh Debian 12 machine: apt-get installs without recommends, so
# every package the build resolves must be here or in what these packages depend on.
# scripts/check_install_list.sh (run by ./test.sh, so by CI) proves it against a finished build.
set -euo pipefail
pkgs=(
  cmake g++ make                      # build tools
  antlr4 libantlr4-runtime-dev        # grammar/ → generated parser (tool 4.7.2, runtime 4.9)
  uuid-dev                            # the antlr4 runtime's CMake target links -luuid; not a Depends
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libfmt-dev
  libdnnl-dev ocl-icd-opencl-dev      # oneDNN; its CMake package requires OpenCL, only recommended
  libjpeg62-turbo-dev                 # imagenet data source
  libopenmpi-dev openmpi-bin          # data-parallel workers: the MPI plug-in and mpirun (tests, bench)
  pkgconf                             # CMake's FindMPI asks pkg-config first
  libgtest-dev                        # tests
  coinor-libcbc-dev                   # tests: CBC solves the MILP the budget solver is measured against
  clang-14 libclang-rt-14-dev         # scripts/sanitize_and_fuzz.sh: ASan, UBSan and libFuzzer (CI)
  python3                             # bench/*.sh read metrics.jsonl with it
  python3-venv                        # bench/cpu_vs_torch.sh: a venv for torch (pip, PEP 668)
)
if [[ "${1:-}" == "--list" ]]; then
  printf '%s\n' "${pkgs[@]}"
  exit 0
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

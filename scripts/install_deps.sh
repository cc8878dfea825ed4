#!/usr/bin/env bash
# Installs the Debian packages sublinear builds against. Idempotent and quiet when all is present.
set -euo pipefail
pkgs=(cmake g++ make antlr4 libantlr4-runtime-dev libyaml-cpp-dev libgtest-dev libcli11-dev
      nlohmann-json3-dev libfmt-dev libdnnl-dev libjpeg62-turbo-dev)
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

#!/usr/bin/env bash
# Installs everything lfm2c needs to build and test on Debian 12 (bookworm):
# LLVM/MLIR 22 from Debian (plus the AArch64 cross g++ and qemu-user-static
# for the arm64 targets), Halide 21 and the test tooling from PyPI. Safe to
# run again: it installs only what is missing.
set -euo pipefail

APT_PACKAGES=(
  g++ ninja-build lld git
  llvm-22-dev libmlir-22-dev mlir-22-tools clang-format-22
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev libcli11-dev
  g++-aarch64-linux-gnu qemu-user-static
  python3
)
PIP_REQUIREMENTS="$(dirname "$0")/requirements.txt"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi

if ! python3 -m pip --version >/dev/null 2>&1; then
  APT_PACKAGES+=(python3-pip)
fi
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt packages: ${missing[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends "${missing[@]}"
else
  echo "install-deps: apt packages already installed"
fi

# Debian's Python refuses pip installs outside a venv (PEP 668); these are
# build tools, pinned, so installing them for the user's python3 is intended.
export PIP_BREAK_SYSTEM_PACKAGES=1
python3 -m pip install -q --disable-pip-version-check -r "$PIP_REQUIREMENTS"
echo "install-deps: done"

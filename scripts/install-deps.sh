#!/usr/bin/env bash
# Installs every Debian package Strait needs to build, test and benchmark — only the missing ones.
# Usage: scripts/install-deps.sh [--build-only]
set -euo pipefail

BUILD_PKGS=(
  build-essential cmake pkg-config ninja-build
  libuv1-dev libssl-dev libnghttp2-dev libyaml-cpp-dev node-llhttp
  libre2-dev nlohmann-json3-dev libgtest-dev libgmock-dev
)
TEST_PKGS=(
  curl wrk nghttp2-client openssl gnutls-bin python3 python3-h11 python3-h2
  prometheus iproute2 procps psmisc chromium
)
BENCH_PKGS=(nginx-light haproxy gnuplot-nox)

want=("${BUILD_PKGS[@]}")
if [ "${1:-}" != "--build-only" ]; then
  want+=("${TEST_PKGS[@]}" "${BENCH_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

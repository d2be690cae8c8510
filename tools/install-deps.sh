#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Tessera need (CPU backend; the CUDA backend builds
# too when /usr/local/cuda is present). Safe to run again: apt skips what is installed.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config git xz-utils curl unzip python3
  libabsl-dev nlohmann-json3-dev libpcre2-dev libopenblas-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang-14 libclang-rt-14-dev
  prometheus
  libgrpc++-dev libprotobuf-dev protobuf-compiler protobuf-compiler-grpc libboost1.81-dev
  libcurl4-openssl-dev libssl-dev openssl
)
sudo=""
if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends "${missing[@]}"
fi
# Node.js and npm run the end-to-end tests with the official OpenAI SDK; a machine that already has them (from any
# source) keeps its own.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update
  $sudo apt-get install -y --no-install-recommends nodejs npm
fi

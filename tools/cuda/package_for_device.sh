#!/usr/bin/env bash
# Gathers what tools/cuda/run_device_checks.sh needs on a GPU host into DEST (default .device/cuda, git-ignored):
# the stripped programs of BUILD (default build-cuda) and, as lib.tar.xz, the shared libraries they load that a bare
# GPU host lacks (everything but libc, the CUDA runtime, cuBLAS and the driver). Also builds the copy-bandwidth probe.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build-cuda}
DEST=${DEST:-$ROOT/.device/cuda}
mkdir -p "$DEST/bin" "$DEST/lib"
programs=("$BUILD/tests/kernels_backend_parity_test" "$BUILD/tests/services_worker_engine_model_fidelity_test"
          "$BUILD/tools/tessera")
for p in "${programs[@]}"; do
  cp "$p" "$DEST/bin/"
  strip "$DEST/bin/$(basename "$p")"
done
for p in "${programs[@]}"; do
  ldd "$p" | awk '/=> \//{print $3}' |
    grep -v -E 'libc\.so|libm\.so|libpthread|libdl|librt|ld-linux|libcuda|libcublas|libcudart|libnccl' || true
done | sort -u | while read -r lib; do cp -L "$lib" "$DEST/lib/"; done
strip --strip-unneeded "$DEST"/lib/*.so* 2>/dev/null || true
# Compressed, the libraries fit the device's transfer limit (OpenBLAS alone is 36 MB).
tar -cJf "$DEST/lib.tar.xz" -C "$DEST/lib" . && rm -rf "$DEST/lib"
/usr/local/cuda/bin/nvcc -O2 -gencode=arch=compute_90,code=sm_90 -o "$DEST/bin/copy_bandwidth" \
  "$ROOT/tools/cuda/copy_bandwidth.cu"
du -sh "$DEST"

#!/usr/bin/env bash
# Used inside the image builds: finds the shared libraries that the Tessera binaries load, so that the final image
# carries only what runs them.
#   collect-runtime.sh packages BIN...     prints the Debian packages that provide those libraries (one per line)
#   collect-runtime.sh copy DIR BIN...     copies the libraries into DIR, except the C library family and the
#                                          CUDA libraries, which the CUDA runtime base image provides
set -euo pipefail
mode="$1"
shift
dest=""
if [[ "$mode" == copy ]]; then
  dest="$1"
  shift
fi
[[ $# -gt 0 ]] || { echo "usage: $0 packages BIN... | copy DIR BIN..." >&2; exit 2; }

libraries() {
  local binary
  for binary in "$@"; do
    ldd "$binary" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }'
  done | sort -u
}

case "$mode" in
  packages)
    libraries "$@" | while read -r library; do
      # With merged /usr a library has two paths; dpkg knows one of them.
      dpkg -S "$library" 2>/dev/null || dpkg -S "$(readlink -f "$library")" 2>/dev/null ||
        dpkg -S "/usr$library" 2>/dev/null || dpkg -S "${library#/usr}" 2>/dev/null ||
        { echo "no package provides $library" >&2; exit 1; }
    done | cut -d: -f1 | sort -u
    ;;
  copy)
    mkdir -p "$dest"
    libraries "$@" | grep -vE '/(libc|libm|libdl|librt|libpthread|ld-linux[^/]*|libgcc_s|libstdc\+\+)\.so' |
      grep -vE '/(libcuda|libcudart|libcublas|libcublasLt|libnccl|libnvidia-[^/]*|libnvrtc[^/]*)\.so' |
      while read -r library; do cp -L "$library" "$dest/"; done
    ;;
  *)
    echo "unknown mode '$mode'" >&2
    exit 2
    ;;
esac

#!/usr/bin/env bash
# Builds Tessera and runs every test (unit and integration) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"

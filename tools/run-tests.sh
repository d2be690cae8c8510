#!/usr/bin/env bash
# Builds Tessera and runs every test (unit and integration) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
# CTest runs one test per core already; threads inside each test would only fight over the same cores (OpenMP
# workers spin while they wait), so every test process gets one compute thread.
OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 ctest --test-dir build --output-on-failure -j"$(nproc)"
# The tokenizer and chat-template fuzzers (clang, own build folder), about 4 minutes.
bash tools/run-fuzzers.sh

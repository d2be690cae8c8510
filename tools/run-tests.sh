#!/usr/bin/env bash
# Builds Tessera and runs every test (unit and integration) with CTest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)"
# The tokenizer and chat-template fuzzers (clang, own build folder), about 4 minutes.
bash tools/run-fuzzers.sh

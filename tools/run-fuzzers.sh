#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz with clang (ASan + UBSan) in their own build folder and runs each for
# a bounded time from seed corpora made of the test fixtures. Fails on any crash, hang or sanitizer report; the
# input that triggered it is left in $BUILD_DIR/artifacts/ (replay: $BUILD_DIR/TARGET ARTIFACT).
# Environment: TESSERA_FUZZ_SECONDS (per target, default 55), TESSERA_FUZZ_BUILD_DIR (default build-fuzz),
# TESSERA_FUZZ_TARGETS (space-separated subset), CXX_FUZZ (clang++ to use).
set -euo pipefail
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET="${TESSERA_FUZZ_SECONDS:-55}"
BUILD_DIR="${TESSERA_FUZZ_BUILD_DIR:-build-fuzz}"
TARGETS=(${TESSERA_FUZZ_TARGETS:-tokenizer_encode_fuzzer tokenizer_decode_fuzzer chat_template_source_fuzzer
         chat_template_messages_fuzzer})

CXX_FUZZ="${CXX_FUZZ:-}"
if [[ -z "$CXX_FUZZ" ]]; then
  for candidate in clang++-14 clang++; do
    if command -v "$candidate" >/dev/null; then CXX_FUZZ="$candidate"; break; fi
  done
fi
if [[ -z "$CXX_FUZZ" ]]; then
  echo "run-fuzzers: clang++ not found (tools/install-deps.sh installs clang-14 and libclang-rt-14-dev)" >&2
  exit 1
fi

if [[ ! -f "$BUILD_DIR/build.ninja" ]]; then
  cmake -S tests/fuzz -B "$BUILD_DIR" -G Ninja -DCMAKE_CXX_COMPILER="$CXX_FUZZ"
fi
ninja -C "$BUILD_DIR" "${TARGETS[@]}" make_fuzz_seeds

rm -rf "$BUILD_DIR/seeds"
"$BUILD_DIR/make_fuzz_seeds" "$BUILD_DIR/seeds"
mkdir -p "$BUILD_DIR/artifacts"

failed=()
for target in "${TARGETS[@]}"; do
  # A fresh corpus each run keeps the time bound honest and the result reproducible from the seeds.
  corpus="$BUILD_DIR/corpus/$target"
  rm -rf "$corpus"
  mkdir -p "$corpus"
  echo "run-fuzzers: $target for ${SECONDS_PER_TARGET}s"
  # -timeout flags any single input that runs for 20 s (a hang or quadratic blow-up); -max_len keeps inputs at a
  # size where that bound means something. Leak checking stays on (ASan's default).
  if ! ASAN_OPTIONS="abort_on_error=1:detect_stack_use_after_return=1" \
       UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1" \
       "$BUILD_DIR/$target" -max_total_time="$SECONDS_PER_TARGET" -timeout=20 -max_len=4096 -rss_limit_mb=4096 \
       -print_final_stats=1 -artifact_prefix="$BUILD_DIR/artifacts/$target-" \
       "$corpus" "$BUILD_DIR/seeds/$target" > "$BUILD_DIR/$target.log" 2>&1; then
    tail -n 60 "$BUILD_DIR/$target.log" >&2
    failed+=("$target")
  else
    grep -E "^stat::number_of_executed_units|^Done" "$BUILD_DIR/$target.log" || true
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "run-fuzzers: FAILED: ${failed[*]} (inputs in $BUILD_DIR/artifacts/, logs in $BUILD_DIR/*.log)" >&2
  exit 1
fi
echo "run-fuzzers: all ${#TARGETS[@]} targets ran ${SECONDS_PER_TARGET}s without a finding"

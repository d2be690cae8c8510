#!/usr/bin/env bash
# Runs the CUDA backend's checks and timings on a GPU host in one go, from binaries built elsewhere and carried in
# BIN_DIR (default .device/cuda: bin/ with the programs, lib.tar.xz or lib/ with shared libraries the host lacks):
#   1. the backend parity test (every op against the CPU reference) on cuda;
#   2. the model fidelity test (golden logits and greedy ids of the fixture models) with TESSERA_TEST_DEVICE=cuda;
#   3. `tessera generate --device cuda` on a fixture model, end to end;
#   4. device copy bandwidth, then batch-1 decode and offline throughput of the Llama-3.1-8B shape with dummy
#      weights; decode tokens/s is compared with the bandwidth floor (weight bytes per step / copy bandwidth).
# Logs go to $LOGS (default /tmp/tessera-cuda); a short table is printed last. STAGES picks stages (default "1 2 3 4").
# THROUGHPUT_ARGS overrides the throughput workloads, separated by ';' (default 200 prompts x 256 in / 256 out).
set -u
ROOT=$(pwd)
BIN_DIR=${BIN_DIR:-$ROOT/.device/cuda}
LOGS=${LOGS:-/tmp/tessera-cuda}
STAGES=${STAGES:-"1 2 3 4"}
THROUGHPUT_ARGS=${THROUGHPUT_ARGS:-"--num-prompts 200 --input-len 256 --output-len 256"}
mkdir -p "$LOGS"
if [ -f "$BIN_DIR/lib.tar.xz" ]; then
  mkdir -p /tmp/tessera-lib && tar -xJf "$BIN_DIR/lib.tar.xz" -C /tmp/tessera-lib
  export LD_LIBRARY_PATH="/tmp/tessera-lib:${LD_LIBRARY_PATH:-}"
else
  export LD_LIBRARY_PATH="$BIN_DIR/lib:${LD_LIBRARY_PATH:-}"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-16}
# The tests were built with the fixture folder at /work/main/tests/fixtures.
if [ ! -e /work/main/tests/fixtures ]; then mkdir -p /work && ln -sfn "$ROOT" /work/main; fi
declare -A RESULT

has_stage() { [[ " $STAGES " == *" $1 "* ]]; }

nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version,clocks.max.sm,clocks.max.mem --format=csv
date -u +"run at %Y-%m-%dT%H:%M:%SZ"

if has_stage 1; then
  timeout 300 "$BIN_DIR/bin/kernels_backend_parity_test" --gtest_filter='*cuda' >"$LOGS/parity.log" 2>&1
  RESULT[parity]="rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$LOGS/parity.log" | tr '\n' ' ')"
  grep -E 'Failure|error|FAILED|Skipped' -A3 "$LOGS/parity.log" | head -60
fi

if has_stage 2; then
  TESSERA_TEST_DEVICE=cuda timeout 400 "$BIN_DIR/bin/services_worker_engine_model_fidelity_test" \
    >"$LOGS/fidelity.log" 2>&1
  RESULT[fidelity]="rc=$? $(grep -E '^\[  (PASSED|FAILED) ' "$LOGS/fidelity.log" | tr '\n' ' ')"
  grep -E '\[ fidelity \]' "$LOGS/fidelity.log"
  grep -E 'Failure|FAILED' -A4 "$LOGS/fidelity.log" | head -40
fi

if has_stage 3; then
  timeout 120 "$BIN_DIR/bin/tessera" generate --model tests/fixtures/models/tiny-llama31 --device cuda \
    --prompt "The capital of France is" --max-tokens 12 --temperature 0 --json >"$LOGS/generate_cuda.log" 2>&1
  rc_cuda=$?
  timeout 120 "$BIN_DIR/bin/tessera" generate --model tests/fixtures/models/tiny-llama31 --device cpu --dtype bfloat16 \
    --prompt "The capital of France is" --max-tokens 12 --temperature 0 --json >"$LOGS/generate_cpu.log" 2>&1
  cat "$LOGS/generate_cuda.log" | tail -4
  ids_cuda=$(grep -o '"token_ids":\[[0-9,]*\]' "$LOGS/generate_cuda.log" | head -1)
  ids_cpu=$(grep -o '"token_ids":\[[0-9,]*\]' "$LOGS/generate_cpu.log" | head -1)
  RESULT[generate]="rc=$rc_cuda cuda ${ids_cuda:-none} cpu-bf16 ${ids_cpu:-none}"
fi

if has_stage 4; then
  "$BIN_DIR/bin/copy_bandwidth" >"$LOGS/bandwidth.log" 2>&1
  cat "$LOGS/bandwidth.log"
  bw=$(grep -o 'copy_bandwidth_GBps=[0-9.]*' "$LOGS/bandwidth.log" | cut -d= -f2)
  RESULT[bandwidth]="${bw:-?} GB/s"
  model=/tmp/llama-3.1-8b
  "$BIN_DIR/bin/tessera" make-model --preset llama-3.1-8b --config-only --out "$model" >"$LOGS/make_model.log" 2>&1 ||
    cat "$LOGS/make_model.log"
  timeout 240 "$BIN_DIR/bin/tessera" bench throughput --model "$model" --load-format dummy --device cuda \
    --num-prompts 1 --input-len 128 --output-len 512 --max-model-len 4096 >"$LOGS/decode_b1.log" 2>&1
  rc=$?
  grep -E '^tessera:|Throughput|Elapsed|error|Error' "$LOGS/decode_b1.log" | tail -6
  weights=$(grep -o 'weights [0-9.]* MiB' "$LOGS/decode_b1.log" | head -1 | awk '{print $2}')
  tput=$(grep -o '[0-9.]* output tokens/s' "$LOGS/decode_b1.log" | awk '{print $1}')
  if [ -n "${bw:-}" ] && [ -n "${weights:-}" ] && [ -n "${tput:-}" ]; then
    # Per decode step the whole model is read once, except the embedding table (one row per token).
    floor=$(awk -v w="$weights" -v bw="$bw" 'BEGIN { step_bytes = (w - 128256*4096*2/1048576) * 1048576;
      printf "%.1f", bw * 1e9 / step_bytes }')
    frac=$(awk -v t="$tput" -v f="$floor" 'BEGIN { printf "%.0f%%", 100 * t / f }')
    RESULT[decode_b1]="rc=$rc $tput tok/s; floor $floor tok/s ($frac of it)"
  else
    RESULT[decode_b1]="rc=$rc ${tput:-?} tok/s"
  fi
  n=0
  IFS=';' read -ra workloads <<<"$THROUGHPUT_ARGS"
  for args in "${workloads[@]}"; do
    n=$((n + 1))
    timeout 420 "$BIN_DIR/bin/tessera" bench throughput --model "$model" --load-format dummy --device cuda \
      $args --max-model-len 4096 >"$LOGS/throughput$n.log" 2>&1
    rc=$?
    grep -E '^tessera:|Throughput|Total num|Elapsed|error|Error' "$LOGS/throughput$n.log" | tail -8
    RESULT[throughput$n]="rc=$rc ($args) $(grep -o '[0-9.]* output tokens/s' "$LOGS/throughput$n.log")"
  done
fi

echo
echo "================ CUDA backend summary ================"
for key in parity fidelity generate bandwidth decode_b1 throughput1 throughput2 throughput3; do
  [ -n "${RESULT[$key]:-}" ] && printf "%-11s %s\n" "$key" "${RESULT[$key]}"
done

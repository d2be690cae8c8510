#!/usr/bin/env bash
# End-to-end checks of `tessera bench throughput` as a user runs it on the tiny-llama fixture: the vLLM-style
# summary lines, token counts that match --num-prompts x --input-len / --output-len, the --output-json file, and
# clear errors for bad flags. Needs only bash and coreutils (no python/node), so it runs on a bare CI image.
set -euo pipefail

source "$(dirname "$0")/lib/checks.bash"

MODEL="$TESSERA_FIXTURES_DIR/models/tiny-llama"
# A small KV cache keeps start-up quick on a shared CI machine.
KV_FLAGS=(--kv-cache-memory 16777216)

# The value of the integer JSON field $1 in file $2 (empty when missing).
json_int() {
  grep -o "\"$1\": *[0-9]*" "$2" | sed -e 's/.*: *//' || true
}

# Runs a throughput benchmark and checks its summary. Usage: check_run NAME PROMPTS INPUT_LEN OUTPUT_LEN [FLAGS...]
check_run() {
  local name="$1" prompts="$2" input_len="$3" output_len="$4"
  shift 4
  local rc=0
  "$TESSERA_BIN" bench throughput --model "$MODEL" "${KV_FLAGS[@]}" --num-prompts "$prompts" \
    --input-len "$input_len" --output-len "$output_len" --output-json "$WORK_DIR/$name.json" "$@" \
    >"$WORK_DIR/stdout" 2>"$WORK_DIR/stderr" || rc=$?
  if [[ "$rc" != 0 ]]; then
    fail "$name: exit $rc: $(cat "$WORK_DIR/stderr")"
    return
  fi
  local number='[0-9]+\.[0-9]{2}'
  if ! grep -Eq "^Throughput: $number requests/s, $number total tokens/s, $number output tokens/s$" \
    "$WORK_DIR/stdout"; then
    fail "$name: no well-formed Throughput line in: $(cat "$WORK_DIR/stdout")"
    return
  fi
  local want_prompt=$((prompts * input_len)) want_output=$((prompts * output_len))
  if ! grep -Eq "^Total num prompt tokens: +$want_prompt$" "$WORK_DIR/stdout"; then
    fail "$name: expected $want_prompt prompt tokens in: $(cat "$WORK_DIR/stdout")"
    return
  fi
  if ! grep -Eq "^Total num output tokens: +$want_output$" "$WORK_DIR/stdout"; then
    fail "$name: expected $want_output output tokens (EOS ignored) in: $(cat "$WORK_DIR/stdout")"
    return
  fi
  if ! grep -Eq "^Elapsed time: [0-9]+\.[0-9]{3} s$" "$WORK_DIR/stdout"; then
    fail "$name: no Elapsed time line in: $(cat "$WORK_DIR/stdout")"
    return
  fi
  local json="$WORK_DIR/$name.json"
  if [[ ! -s "$json" ]]; then
    fail "$name: --output-json wrote nothing"
    return
  fi
  local key
  for key in elapsed_time requests_per_second tokens_per_second output_tokens_per_second; do
    if ! grep -Eq "\"$key\": *[0-9.e+-]+" "$json"; then
      fail "$name: $key missing from $(cat "$json")"
      return
    fi
  done
  if [[ "$(json_int num_requests "$json")" != "$prompts" ||
    "$(json_int total_prompt_tokens "$json")" != "$want_prompt" ||
    "$(json_int total_output_tokens "$json")" != "$want_output" ||
    "$(json_int total_num_tokens "$json")" != "$((want_prompt + want_output))" ]]; then
    fail "$name: counts in the JSON file are wrong: $(cat "$json")"
    return
  fi
  pass "$name ($(head -1 "$WORK_DIR/stdout"))"
}

check_run default 16 32 8
check_run chunked_no_cache 8 40 5 --max-num-batched-tokens 16 --no-prefix-caching
check_run few_seqs 6 10 4 --max-num-seqs 2 --seed 7

"$TESSERA_BIN" bench throughput --help >"$WORK_DIR/help" 2>&1 || fail "bench throughput --help failed"
for flag in --input-len --output-len --num-prompts --seed --output-json --max-num-batched-tokens; do
  grep -qF -- "$flag" "$WORK_DIR/help" || fail "bench throughput --help does not list $flag"
done

expect_error "unknown bench subcommand" "latency" -- bench latency --model "$MODEL"
expect_error "missing --model" "--model" -- bench throughput --input-len 4
expect_error "zero --num-prompts" "--num-prompts" -- \
  bench throughput --model "$MODEL" "${KV_FLAGS[@]}" --num-prompts 0
expect_error "non-numeric --output-len" "--output-len" -- \
  bench throughput --model "$MODEL" "${KV_FLAGS[@]}" --output-len lots
expect_error "requests longer than --max-model-len" "max_tokens" "maximum context length is 64" -- \
  bench throughput --model "$MODEL" "${KV_FLAGS[@]}" --max-model-len 64 --input-len 60 --output-len 10 --num-prompts 2
expect_error "unwritable --output-json" "--output-json" -- \
  bench throughput --model "$MODEL" "${KV_FLAGS[@]}" --num-prompts 1 --input-len 4 --output-len 2 \
  --output-json "$WORK_DIR/no/such/dir/out.json"

finish "cli_bench"

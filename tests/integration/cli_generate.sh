#!/usr/bin/env bash
# End-to-end checks of `tessera make-model` and `tessera generate` as a user runs them: every tiny preset loads and
# generates, the fixture model reproduces the reference greedy ids, and bad input fails with a clear message.
# Needs only bash and coreutils (no python/node), so it runs on a bare CI image.
set -euo pipefail

source "$(dirname "$0")/lib/checks.bash"

# Every run gets a small KV cache (the default 1 GiB would make each process slow to start on a shared CI machine)
# and greedy decoding (the CLI otherwise samples with the model's generation_config defaults, as vLLM does).
KV_FLAGS=(--kv-cache-memory 16777216 --temperature 0)

# Prints the comma-separated contents of the JSON array named $1 in the JSON line $2 (empty for an empty array).
json_array() {
  local key="$1" line="$2" match
  match="$(grep -o "\"$key\":\[[^]]*\]" <<<"$line" || true)"
  if [[ -z "$match" ]]; then
    echo "__missing__"
    return
  fi
  match="${match#*[}"
  echo "${match%]}"
}

json_string() {
  local key="$1" line="$2"
  grep -o "\"$key\":\"[^\"]*\"" <<<"$line" | sed -e "s/^\"$key\":\"//" -e 's/"$//' || true
}

count_ids() {
  local ids="$1"
  if [[ -z "$ids" ]]; then
    echo 0
  else
    tr ',' '\n' <<<"$ids" | grep -c .
  fi
}

# Checks that every line of $2 (JSON output of generate) has $3 token ids, the expected prompt ids (one per line in
# $4 when given) and finish_reason "length". $1 names the case.
check_json_lines() {
  local name="$1" output="$2" expected_len="$3" expected_prompts="${4:-}"
  local line_no=0 line ids prompt reason n
  local -a prompts=()
  [[ -n "$expected_prompts" ]] && mapfile -t prompts <<<"$expected_prompts"
  while IFS= read -r line; do
    [[ -z "$line" ]] && continue
    ids="$(json_array token_ids "$line")"
    prompt="$(json_array prompt_token_ids "$line")"
    reason="$(json_string finish_reason "$line")"
    if [[ "$ids" == "__missing__" || "$prompt" == "__missing__" ]]; then
      fail "$name: line $line_no lacks token_ids or prompt_token_ids: $line"
      return
    fi
    n="$(count_ids "$ids")"
    if [[ "$n" != "$expected_len" ]]; then
      fail "$name: line $line_no has $n token ids, expected $expected_len: $line"
      return
    fi
    if [[ "$reason" != "length" ]]; then
      fail "$name: line $line_no finish_reason '$reason', expected 'length': $line"
      return
    fi
    if [[ ${#prompts[@]} -gt 0 && "$prompt" != "${prompts[$line_no]:-}" ]]; then
      fail "$name: line $line_no prompt_token_ids [$prompt], expected [${prompts[$line_no]:-}]"
      return
    fi
    line_no=$((line_no + 1))
  done <<<"$output"
  local expected_lines=1
  [[ ${#prompts[@]} -gt 0 ]] && expected_lines=${#prompts[@]}
  if [[ "$line_no" != "$expected_lines" ]]; then
    fail "$name: $line_no JSON lines, expected $expected_lines"
    return
  fi
  pass "$name"
}

# A 3-prompt batch used for every preset.
INPUT="$WORK_DIR/prompts.jsonl"
cat >"$INPUT" <<'EOF'
{"prompt_token_ids": [1, 15, 27, 300]}

{"prompt_token_ids": [5]}
{"prompt_token_ids": [9, 8, 7, 6, 5, 4, 3, 2, 1, 100, 200, 300, 400, 500, 600, 700, 800, 900]}
EOF
INPUT_PROMPTS=$'1,15,27,300\n5\n9,8,7,6,5,4,3,2,1,100,200,300,400,500,600,700,800,900'

# --- Every tiny preset: make-model, then generate from --prompt-ids and from an --input batch.
for preset in tiny-llama tiny-mistral tiny-qwen2 tiny-qwen3; do
  dir="$WORK_DIR/$preset"
  if ! "$TESSERA_BIN" make-model --preset "$preset" --out "$dir" >/dev/null 2>"$WORK_DIR/stderr"; then
    fail "make-model $preset: $(cat "$WORK_DIR/stderr")"
    continue
  fi
  for f in config.json generation_config.json model.safetensors; do
    [[ -s "$dir/$f" ]] || fail "make-model $preset: $f missing or empty"
  done

  out="$("$TESSERA_BIN" generate --model "$dir" "${KV_FLAGS[@]}" --prompt-ids 3,14,15,92,65 --max-tokens 7 \
    --ignore-eos --json 2>"$WORK_DIR/stderr")" || fail "generate $preset --prompt-ids: $(cat "$WORK_DIR/stderr")"
  check_json_lines "$preset --prompt-ids" "$out" 7 "3,14,15,92,65"

  out="$("$TESSERA_BIN" generate --model "$dir" "${KV_FLAGS[@]}" --input "$INPUT" --max-tokens 12 --ignore-eos \
    --json 2>"$WORK_DIR/stderr")" || fail "generate $preset --input: $(cat "$WORK_DIR/stderr")"
  check_json_lines "$preset --input (3 prompts)" "$out" 12 "$INPUT_PROMPTS"
  if grep -q "Processed prompts" "$WORK_DIR/stderr" && grep -q "3/3" "$WORK_DIR/stderr"; then
    pass "$preset progress bar on stderr"
  else
    fail "$preset: no 'Processed prompts ... 3/3' progress bar on stderr: $(cat "$WORK_DIR/stderr")"
  fi
  if grep -q "Processed prompts" <<<"$out"; then
    fail "$preset: progress bar leaked into stdout"
  fi
done

# --- The same prompt twice in one batch gives the same greedy ids as alone (batching does not change results).
dir="$WORK_DIR/tiny-llama"
if [[ -d "$dir" ]]; then
  printf '{"prompt_token_ids": [3,14,15,92,65]}\n{"prompt_token_ids": [3,14,15,92,65]}\n' >"$WORK_DIR/twice.jsonl"
  alone="$("$TESSERA_BIN" generate --model "$dir" "${KV_FLAGS[@]}" --prompt-ids 3,14,15,92,65 --max-tokens 10 \
    --ignore-eos --json 2>/dev/null || true)"
  batch="$("$TESSERA_BIN" generate --model "$dir" "${KV_FLAGS[@]}" --input "$WORK_DIR/twice.jsonl" --max-tokens 10 \
    --ignore-eos --json 2>/dev/null || true)"
  alone_ids="$(json_array token_ids "$alone")"
  mapfile -t batch_lines <<<"$batch"
  if [[ ${#batch_lines[@]} == 2 && "$(json_array token_ids "${batch_lines[0]}")" == "$alone_ids" &&
        "$(json_array token_ids "${batch_lines[1]}")" == "$alone_ids" && "$alone_ids" != "__missing__" ]]; then
    pass "batched greedy ids equal the single-prompt ids"
  else
    fail "batched greedy ids differ from single-prompt ids: alone=[$alone_ids] batch=$batch"
  fi
fi

# --- The fixture tiny-llama reproduces the reference model's greedy ids.
FIXTURE="$TESSERA_FIXTURES_DIR/models/tiny-llama"
EXPECTED="806,176,242,92,311,6,723,299,768,635,391,320,653,209,242,321,538,298,503,813,321,137,242,41"
out="$("$TESSERA_BIN" generate --model "$FIXTURE" "${KV_FLAGS[@]}" --prompt-ids 70,321,70,321,70 --max-tokens 24 \
  --temperature 0 --json 2>"$WORK_DIR/stderr")" || fail "generate fixture tiny-llama: $(cat "$WORK_DIR/stderr")"
got="$(json_array token_ids "$out")"
if [[ "$got" == "$EXPECTED" ]]; then
  pass "fixture tiny-llama greedy ids match the reference"
else
  fail "fixture tiny-llama greedy ids [$got], expected [$EXPECTED]"
fi
# Without --json the plain form prints the decoded text (the fixture has a tokenizer), the same text as --json.
json_text="$(grep -o '"text":"[^}]*' <<<"$out" | head -1)"
out="$("$TESSERA_BIN" generate --model "$FIXTURE" "${KV_FLAGS[@]}" --prompt-ids 70,321,70,321,70 --max-tokens 24 \
  2>/dev/null)" || fail "generate fixture tiny-llama (text output)"
if [[ "$out" == "prompt 0 (5 tokens) [length]: \""* && -n "$json_text" ]]; then
  pass "fixture tiny-llama text output"
else
  fail "fixture tiny-llama text output has an unexpected form: $out"
fi

# --- --load-format dummy builds random weights from a config-only folder.
dummy="$WORK_DIR/dummy"
if "$TESSERA_BIN" make-model --preset tiny-qwen3 --num-layers 3 --config-only --out "$dummy" >/dev/null \
    2>"$WORK_DIR/stderr"; then
  if [[ -e "$dummy/model.safetensors" ]]; then
    fail "--config-only wrote model.safetensors"
  fi
  out="$("$TESSERA_BIN" generate --model "$dummy" "${KV_FLAGS[@]}" --load-format dummy --prompt-ids 1,2,3 \
    --max-tokens 6 --ignore-eos --json 2>"$WORK_DIR/stderr")" || fail "dummy load: $(cat "$WORK_DIR/stderr")"
  check_json_lines "--load-format dummy from a config-only folder" "$out" 6 "1,2,3"
  again="$("$TESSERA_BIN" generate --model "$dummy" "${KV_FLAGS[@]}" --load-format dummy --prompt-ids 1,2,3 \
    --max-tokens 6 --ignore-eos --json 2>/dev/null || true)"
  [[ -n "$out" && "$again" == "$out" ]] && pass "dummy weights are reproducible for the same seed" ||
    fail "dummy weights differ between runs with the same seed"
  expect_error "config-only folder without --load-format dummy" "safetensors" -- \
    generate --model "$dummy" "${KV_FLAGS[@]}" --prompt-ids 1,2,3
else
  fail "make-model --config-only: $(cat "$WORK_DIR/stderr")"
fi

# --- Error cases: non-zero exit, a message naming the fault on stderr, never a crash.
base="$WORK_DIR/tiny-llama"
if [[ -d "$base" ]]; then
  cp -r "$base" "$WORK_DIR/gpt2"
  sed -i 's/"LlamaForCausalLM"/"GPT2LMHeadModel"/' "$WORK_DIR/gpt2/config.json"
  expect_error "unknown architecture" "GPT2LMHeadModel" "LlamaForCausalLM" "Qwen2ForCausalLM" "Qwen3ForCausalLM" \
    "MistralForCausalLM" -- generate --model "$WORK_DIR/gpt2" "${KV_FLAGS[@]}" --prompt-ids 1,2,3

  # Three layers in config.json but a checkpoint of two: layer 2's tensors are missing.
  cp -r "$base" "$WORK_DIR/missing"
  sed -i 's/"num_hidden_layers": 2/"num_hidden_layers": 3/' "$WORK_DIR/missing/config.json"
  grep -q '"num_hidden_layers": 3' "$WORK_DIR/missing/config.json" || fail "could not edit num_hidden_layers"
  expect_error "missing tensor" "model.layers.2." -- \
    generate --model "$WORK_DIR/missing" "${KV_FLAGS[@]}" --prompt-ids 1,2,3

  cp -r "$base" "$WORK_DIR/truncated"
  truncate -s 100000 "$WORK_DIR/truncated/model.safetensors"
  expect_error "truncated safetensors" "model.safetensors" -- \
    generate --model "$WORK_DIR/truncated" "${KV_FLAGS[@]}" --prompt-ids 1,2,3
  # Cut inside the JSON header as well.
  cp -r "$base" "$WORK_DIR/truncated_header"
  truncate -s 40 "$WORK_DIR/truncated_header/model.safetensors"
  expect_error "safetensors truncated inside its header" "model.safetensors" -- \
    generate --model "$WORK_DIR/truncated_header" "${KV_FLAGS[@]}" --prompt-ids 1,2,3

  expect_error "non-numeric --prompt-ids" "--prompt-ids" "x" -- \
    generate --model "$base" "${KV_FLAGS[@]}" --prompt-ids 1,x,3
  expect_error "empty element in --prompt-ids" "--prompt-ids" -- \
    generate --model "$base" "${KV_FLAGS[@]}" --prompt-ids 1,,3
  expect_error "token id outside the vocabulary" "99999" "vocabulary" -- \
    generate --model "$base" "${KV_FLAGS[@]}" --prompt-ids 1,99999
  expect_error "unknown flag" "--no-such-flag" -- \
    generate --model "$base" "${KV_FLAGS[@]}" --prompt-ids 1,2 --no-such-flag
  expect_error "prompt longer than --max-model-len" "max_model_len" -- \
    generate --model "$base" --max-model-len 8 --prompt-ids 1,2,3,4,5,6,7,8,9,10
  expect_error "no prompt given" "--prompt-ids" -- generate --model "$base" "${KV_FLAGS[@]}"
  expect_error "missing --model" "--model" -- generate --prompt-ids 1,2
  expect_error "model folder without config.json" "config.json" -- \
    generate --model "$WORK_DIR/does-not-exist" --prompt-ids 1,2
  printf '{"prompt_token_ids": [1, 2]}\nnot json\n' >"$WORK_DIR/bad.jsonl"
  expect_error "malformed --input line" "bad.jsonl:2" -- \
    generate --model "$base" "${KV_FLAGS[@]}" --input "$WORK_DIR/bad.jsonl"
  expect_error "unknown make-model preset" "no-such-preset" "tiny-llama" -- \
    make-model --preset no-such-preset --out "$WORK_DIR/unused"
  expect_error "unknown command" "frobnicate" -- frobnicate
fi

finish "cli_generate"

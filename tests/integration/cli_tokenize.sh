#!/usr/bin/env bash
# End-to-end checks of `tessera tokenize`, `tessera detokenize` and `tessera chat-template` on the tiny-qwen3 model
# folder (a small byte-level BPE with Qwen3's special tokens and chat template). Expected ids are those Hugging Face
# `tokenizers` gives for the same tokenizer (tests/unit/common/tokenizer/testdata/hf_reference.json, case "tiny");
# the rest is checked by round trips between the three commands. Needs only bash and coreutils.
set -euo pipefail

source "$(dirname "$0")/lib/checks.bash"

MODEL="$TESSERA_FIXTURES_DIR/models/tiny-qwen3"

# Runs tessera with the remaining arguments and compares its stdout with $2 (exactly, as one JSON line). $1 names
# the case.
expect_output() {
  local name="$1" expected="$2" actual
  shift 2
  if ! actual="$("$TESSERA_BIN" "$@" 2>"$WORK_DIR/stderr")"; then
    fail "$name: exit status $? ($(cat "$WORK_DIR/stderr"))"
    return
  fi
  if [[ "$actual" != "$expected" ]]; then
    fail "$name: got $actual, expected $expected"
    return
  fi
  pass "$name"
}

# The comma-separated contents of the first JSON array in $1 ({"ids":[1,2,3]} -> 1,2,3).
ids_of() {
  local match
  match="$(grep -o '"ids":\[[^]]*\]' <<<"$1" || true)"
  match="${match#*[}"
  echo "${match%]}"
}

# --- tokenize: reference ids, from --text and from stdin -----------------------------------------------------------
HELLO_IDS="44,73,291,83,402,274,80,72"
CHINESE="你好，我是木羽"
CHINESE_IDS="464,448,269,316,335,295,106,168,127,126"
THINK_TEXT=$'<think>\nreasoning here\n</think>\n\nanswer'
THINK_IDS="3,203,306,533,273,286,690,275,73,203,4,203,203,69,707,91,275"

expect_output "tokenize --text" "{\"ids\":[$HELLO_IDS]}" tokenize --model "$MODEL" --text "Hello world"
expect_output "tokenize Chinese" "{\"ids\":[$CHINESE_IDS]}" tokenize --model "$MODEL" --text "$CHINESE"
expect_output "tokenize special tokens in text" "{\"ids\":[$THINK_IDS]}" tokenize --model "$MODEL" --text "$THINK_TEXT"
# This tokenizer has no post-processor and add_bos_token false: nothing is added.
expect_output "tokenize --add-special-tokens" "{\"ids\":[$HELLO_IDS]}" \
  tokenize --model "$MODEL" --add-special-tokens --text "Hello world"
expect_output "tokenize empty text" '{"ids":[]}' tokenize --model "$MODEL" --text ""

actual="$(printf '%s' "$THINK_TEXT" | "$TESSERA_BIN" tokenize --model "$MODEL")" || true
if [[ "$actual" == "{\"ids\":[$THINK_IDS]}" ]]; then pass "tokenize from stdin"; else fail "tokenize from stdin: $actual"; fi
# Stdin is read as bytes to the end, trailing newline included (203 is "\n").
actual="$(printf 'Hello world\n' | "$TESSERA_BIN" tokenize --model "$MODEL")" || true
if [[ "$actual" == "{\"ids\":[$HELLO_IDS,203]}" ]]; then
  pass "tokenize keeps stdin's trailing newline"
else
  fail "tokenize keeps stdin's trailing newline: $actual"
fi

# --- detokenize: reference text, special tokens kept or skipped, round trip ----------------------------------------
expect_output "detokenize" '{"text":"Hello world"}' detokenize --model "$MODEL" --ids "$HELLO_IDS"
expect_output "detokenize Chinese" "{\"text\":\"$CHINESE\"}" detokenize --model "$MODEL" --ids "$CHINESE_IDS"
expect_output "detokenize special tokens" '{"text":"<think>\nreasoning here\n</think>\n\nanswer"}' \
  detokenize --model "$MODEL" --ids "$THINK_IDS"
expect_output "detokenize --skip-special-tokens" '{"text":"\nreasoning here\n\n\nanswer"}' \
  detokenize --model "$MODEL" --ids "$THINK_IDS" --skip-special-tokens
expect_output "detokenize empty list" '{"text":""}' detokenize --model "$MODEL" --ids ""
# Half of "ÿ" (ids 132,128) decodes to U+FFFD, as the library (and Hugging Face) does.
expect_output "detokenize partial character" '{"text":"�"}' detokenize --model "$MODEL" --ids 132

round_trip_text=$'Round trip: 3.14159, "quotes", tabs\tand ünïcödé 😀'
round_trip_ids="$(ids_of "$("$TESSERA_BIN" tokenize --model "$MODEL" --text "$round_trip_text")")"
expect_output "tokenize -> detokenize round trip" \
  '{"text":"Round trip: 3.14159, \"quotes\", tabs\tand ünïcödé 😀"}' \
  detokenize --model "$MODEL" --ids "$round_trip_ids"

# --- chat-template: reference text and ids, generation prompt, kwargs, tools file format ---------------------------
printf '[{"role": "user", "content": "hi"}]' >"$WORK_DIR/messages.json"
expect_output "chat-template" \
  '{"text":"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n","ids":[1,967,275,203,858,2,203,1,69,419,859,857,88,203]}' \
  chat-template --model "$MODEL" --messages "$WORK_DIR/messages.json"
expect_output "chat-template --no-generation-prompt" \
  '{"text":"<|im_start|>user\nhi<|im_end|>\n","ids":[1,967,275,203,858,2,203]}' \
  chat-template --model "$MODEL" --messages "$WORK_DIR/messages.json" --no-generation-prompt

# With enable_thinking=false Qwen3's template opens an empty think block; its ids must be what tokenize gives for
# the rendered text (the chat path encodes without adding special tokens).
thinking_off="$("$TESSERA_BIN" chat-template --model "$MODEL" --messages "$WORK_DIR/messages.json" \
  --kwargs '{"enable_thinking": false}')" || true
expected_text='"text":"<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"'
if [[ "$thinking_off" == "{$expected_text,"* ]]; then
  pass "chat-template --kwargs enable_thinking=false text"
else
  fail "chat-template --kwargs enable_thinking=false text: $thinking_off"
fi
rendered=$'<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n'
expect_output "chat-template ids equal tokenize of its text" "{\"ids\":[$(ids_of "$thinking_off")]}" \
  tokenize --model "$MODEL" --text "$rendered"
expect_output "chat-template ids detokenize to its text" "{${expected_text}}" \
  detokenize --model "$MODEL" --ids "$(ids_of "$thinking_off")"

# The {"messages": [...]} form and stdin give the same result as a bare list.
printf '{"messages": [{"role": "user", "content": "hi"}]}' >"$WORK_DIR/request.json"
expect_output "chat-template {messages} object" \
  '{"text":"<|im_start|>user\nhi<|im_end|>\n","ids":[1,967,275,203,858,2,203]}' \
  chat-template --model "$MODEL" --messages "$WORK_DIR/request.json" --no-generation-prompt
actual="$("$TESSERA_BIN" chat-template --model "$MODEL" --messages - --no-generation-prompt <"$WORK_DIR/messages.json")" || true
if [[ "$actual" == '{"text":"<|im_start|>user\nhi<|im_end|>\n","ids":[1,967,275,203,858,2,203]}' ]]; then
  pass "chat-template --messages - (stdin)"
else
  fail "chat-template --messages - (stdin): $actual"
fi

# Tools go into Qwen3's system block.
printf '{"messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "get_weather"}}]}' \
  >"$WORK_DIR/tools.json"
actual="$("$TESSERA_BIN" chat-template --model "$MODEL" --messages "$WORK_DIR/tools.json")" || true
if [[ "$actual" == '{"text":"<|im_start|>system\n# Tools'* && "$actual" == *'get_weather'* ]]; then
  pass "chat-template with tools"
else
  fail "chat-template with tools: $actual"
fi

# --- errors are clear messages, never crashes ----------------------------------------------------------------------
expect_error "tokenize without --model" "--model DIR is required" -- tokenize --text hi
expect_error "tokenize missing folder" "tokenizer.json" -- tokenize --model "$WORK_DIR/nowhere" --text hi
expect_error "tokenize unknown flag" "--bogus" -- tokenize --model "$MODEL" --bogus
expect_error "detokenize without --ids" "--ids 1,2,3 is required" -- detokenize --model "$MODEL"
expect_error "detokenize bad ids" "--ids" -- detokenize --model "$MODEL" --ids 1,x,3
printf 'not json' >"$WORK_DIR/bad.json"
expect_error "chat-template bad messages file" "not valid JSON" -- chat-template --model "$MODEL" --messages "$WORK_DIR/bad.json"
expect_error "chat-template missing messages file" "nowhere.json" -- \
  chat-template --model "$MODEL" --messages "$WORK_DIR/nowhere.json"
expect_error "chat-template bad kwargs" "--kwargs must be a JSON object" -- \
  chat-template --model "$MODEL" --messages "$WORK_DIR/messages.json" --kwargs '[1]'

finish "tokenize/detokenize/chat-template"

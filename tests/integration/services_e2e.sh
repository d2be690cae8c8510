#!/usr/bin/env bash
# End-to-end check of the serving path with the real processes: tessera-worker serving the fixture tiny-qwen3,
# tessera-router in front of it when TESSERA_ROUTER_BIN is set (without it the gateway speaks tessera.v1.Generation
# to the worker directly), and tessera-gateway, driven over HTTP with curl the way an OpenAI client would. The greedy text must equal `tessera generate`'s.
# Needs only bash, coreutils, grep, sed and curl (no python/node), so it runs on a bare CI image.
set -euo pipefail

: "${TESSERA_BIN:?set TESSERA_BIN to the tessera binary}"
: "${TESSERA_WORKER_BIN:?set TESSERA_WORKER_BIN to the tessera-worker binary}"
: "${TESSERA_GATEWAY_BIN:?set TESSERA_GATEWAY_BIN to the tessera-gateway binary}"
: "${TESSERA_FIXTURES_DIR:?set TESSERA_FIXTURES_DIR to tests/fixtures}"
command -v curl >/dev/null || { echo "FAIL: curl is not installed (tools/install-deps.sh installs it)" >&2; exit 1; }

MODEL="$TESSERA_FIXTURES_DIR/models/tiny-qwen3"
API_KEY="secret"
# A small KV cache keeps start-up fast on a shared CI machine.
KV_FLAGS=(--kv-cache-memory 16777216)
WORK_DIR="$(mktemp -d)"
WORKER_PID=""
ROUTER_PID=""
GATEWAY_PID=""
FAILURES=0

# Stops whichever process is still running (SIGTERM, then wait) and removes the scratch folder.
cleanup() {
  local pid
  for pid in "$GATEWAY_PID" "$ROUTER_PID" "$WORKER_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  FAILURES=$((FAILURES + 1))
}

pass() {
  echo "ok: $*"
}

die() {
  echo "FAIL: $*" >&2
  for log in worker router gateway; do
    [[ -f "$WORK_DIR/$log.log" ]] && { echo "--- $log log:" >&2; tail -n 20 "$WORK_DIR/$log.log" >&2; }
  done
  exit 1
}

# Waits up to $3 seconds for the log file $1 to contain a line matching the regex $2, while process $4 lives.
wait_for_log() {
  local log="$1" pattern="$2" seconds="$3" pid="$4" i
  for ((i = 0; i < seconds * 10; i++)); do
    grep -qE "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# Prints the raw (still JSON-escaped) value of the first string field "$1" in the JSON text $2.
json_string() {
  local key="$1" text="$2"
  grep -oE "\"$key\":\"([^\"\\\\]|\\\\.)*\"" <<<"$text" | head -n 1 | sed -E "s/^\"$key\":\"//; s/\"$//" || true
}

json_number() {
  local key="$1" text="$2"
  grep -oE "\"$key\":-?[0-9]+" <<<"$text" | head -n 1 | sed -E "s/^\"$key\"://" || true
}

# Sends a request; stores the status code in HTTP_STATUS and the body in HTTP_BODY. Usage: http METHOD PATH KEY [BODY]
http() {
  local method="$1" path="$2" key="$3" body="${4:-}"
  local -a args=(-sS -N -X "$method" -o "$WORK_DIR/body" -w '%{http_code}' --max-time 30)
  [[ -n "$key" ]] && args+=(-H "Authorization: Bearer $key")
  [[ -n "$body" ]] && args+=(-H "Content-Type: application/json" --data-binary "$body")
  HTTP_STATUS="$(curl "${args[@]}" "http://127.0.0.1:$GATEWAY_PORT$path" 2>"$WORK_DIR/curl.err")" ||
    HTTP_STATUS="curl failed: $(cat "$WORK_DIR/curl.err")"
  HTTP_BODY="$(cat "$WORK_DIR/body" 2>/dev/null || true)"
}

# --- Start the worker on a free port (--port 0) and read the address it bound from its log.
"$TESSERA_WORKER_BIN" --model "$MODEL" --host 127.0.0.1 --port 0 "${KV_FLAGS[@]}" >"$WORK_DIR/worker.log" 2>&1 &
WORKER_PID=$!
wait_for_log "$WORK_DIR/worker.log" "serving '.*' on [^ ]+:[0-9]+" 30 "$WORKER_PID" || die "the worker did not start"
WORKER_ADDRESS="$(grep -oE "serving '.*' on [^ ]+:[0-9]+" "$WORK_DIR/worker.log" | head -n 1 | sed -E 's/.* on //')"
pass "worker serving on $WORKER_ADDRESS"

BACKEND_ADDRESS="$WORKER_ADDRESS"
if [[ -n "${TESSERA_ROUTER_BIN:-}" ]]; then
  "$TESSERA_ROUTER_BIN" --host 127.0.0.1 --port 0 --workers "$WORKER_ADDRESS" >"$WORK_DIR/router.log" 2>&1 &
  ROUTER_PID=$!
  wait_for_log "$WORK_DIR/router.log" "routing with [^ ]+ on [^ ]+:[0-9]+" 30 "$ROUTER_PID" || die "the router did not start"
  BACKEND_ADDRESS="$(grep -oE "routing with [^ ]+ on [^ ]+:[0-9]+" "$WORK_DIR/router.log" | head -n 1 | sed -E 's/.* on //')"
  pass "router on $BACKEND_ADDRESS in front of the worker"
fi

"$TESSERA_GATEWAY_BIN" --router "$BACKEND_ADDRESS" --host 127.0.0.1 --port 0 --api-key "$API_KEY" \
  >"$WORK_DIR/gateway.log" 2>&1 &
GATEWAY_PID=$!
wait_for_log "$WORK_DIR/gateway.log" "listening on [^ ]+:[0-9]+" 30 "$GATEWAY_PID" || die "the gateway did not start"
GATEWAY_PORT="$(grep -oE "listening on [^ ,]+:[0-9]+" "$WORK_DIR/gateway.log" | head -n 1 | sed -E 's/.*://')"
pass "gateway listening on port $GATEWAY_PORT"

# /health is open (no key) and turns 200 once the backend answers and lists a model (a router lists healthy workers).
healthy=0
for ((i = 0; i < 600; i++)); do
  http GET /health ""
  [[ "$HTTP_STATUS" == 200 ]] && { healthy=1; break; }
  sleep 0.1
done
[[ "$healthy" == 1 ]] || die "GET /health never returned 200 (last: $HTTP_STATUS $HTTP_BODY)"
pass "GET /health is 200 without a key"

# --- GET /v1/models lists the served model (its id defaults to the --model argument).
http GET /v1/models "$API_KEY"
if [[ "$HTTP_STATUS" == 200 && "$HTTP_BODY" == *'"object":"list"'* && "$HTTP_BODY" == *"\"id\":\"$MODEL\""* ]]; then
  pass "GET /v1/models lists $MODEL"
else
  fail "GET /v1/models: $HTTP_STATUS $HTTP_BODY"
fi

MESSAGES='[{"role":"system","content":"You are terse."},{"role":"user","content":"Hello there, who are you?"}]'

# --- Non-streaming chat completion, greedy, 8 tokens.
http POST /v1/chat/completions "$API_KEY" \
  "{\"model\":\"$MODEL\",\"messages\":$MESSAGES,\"temperature\":0,\"max_tokens\":8}"
chat_text=""
if [[ "$HTTP_STATUS" != 200 ]]; then
  fail "chat completion: $HTTP_STATUS $HTTP_BODY"
elif ! grep -qE '"message":\{"role":"assistant","content":"([^"\\]|\\.)*"' <<<"$HTTP_BODY"; then
  fail "chat completion: choices[0].message.content is not a string: $HTTP_BODY"
elif [[ "$(json_number completion_tokens "$HTTP_BODY")" != 8 ]]; then
  fail "chat completion: usage.completion_tokens is not 8: $HTTP_BODY"
elif [[ "$(json_string finish_reason "$HTTP_BODY")" != length ]]; then
  fail "chat completion: finish_reason is not 'length': $HTTP_BODY"
elif [[ "$(json_string object "$HTTP_BODY")" != chat.completion ||
        "$(json_string model "$HTTP_BODY")" != "$MODEL" ]]; then
  fail "chat completion: object is not 'chat.completion' or model is not '$MODEL': $HTTP_BODY"
else
  chat_text="$(json_string content "$HTTP_BODY")"
  chat_prompt_tokens="$(json_number prompt_tokens "$HTTP_BODY")"
  pass "chat completion: 200, content \"$chat_text\", 8 completion tokens"
fi

# --- The same request streamed: SSE `data: {...}` events whose deltas add up to the same text, then `data: [DONE]`.
http POST /v1/chat/completions "$API_KEY" \
  "{\"model\":\"$MODEL\",\"messages\":$MESSAGES,\"temperature\":0,\"max_tokens\":8,\"stream\":true}"
events="$(grep -v '^\r\?$' <<<"$HTTP_BODY" || true)"
if [[ "$HTTP_STATUS" != 200 ]]; then
  fail "streamed chat completion: $HTTP_STATUS $HTTP_BODY"
elif grep -qv '^data: ' <<<"$events"; then
  fail "streamed chat completion: a non-empty line is not 'data: ...': $HTTP_BODY"
elif [[ "$(tail -n 1 <<<"$events" | tr -d '\r')" != "data: [DONE]" ]]; then
  fail "streamed chat completion does not end with 'data: [DONE]': $HTTP_BODY"
elif [[ "$(grep -c '^data: \[DONE\]' <<<"$events")" != 1 ]]; then
  fail "streamed chat completion: [DONE] is sent more than once: $HTTP_BODY"
elif grep -v '^data: \[DONE\]' <<<"$events" | grep -qv '^data: {.*}\r\?$'; then
  fail "streamed chat completion: an event is not a JSON object: $HTTP_BODY"
elif ! grep -q '"object":"chat.completion.chunk"' <<<"$events" ||
     [[ "$(grep -c '"finish_reason":"length"' <<<"$events")" != 1 ]]; then
  fail "streamed chat completion: no chat.completion.chunk or not exactly one finish_reason 'length': $HTTP_BODY"
else
  streamed=""
  while IFS= read -r line; do
    streamed+="$(json_string content "$line")"
  done < <(grep '^data: {' <<<"$events")
  if [[ "$streamed" == "$chat_text" ]]; then
    pass "streamed chat completion: SSE events, deltas add up to the non-streamed text, ends with [DONE]"
  else
    fail "streamed chat deltas \"$streamed\" differ from the non-streamed content \"$chat_text\""
  fi
fi

# --- The gateway's greedy chat text equals `tessera generate --chat` for the same messages. The gateway sends
# add_generation_prompt=true and no chat_template_kwargs by default, as the CLI renders --chat.
echo "{\"messages\":$MESSAGES}" >"$WORK_DIR/chat.jsonl"
cli_out="$("$TESSERA_BIN" generate --model "$MODEL" "${KV_FLAGS[@]}" --chat "$WORK_DIR/chat.jsonl" --temperature 0 \
  --max-tokens 8 --json 2>"$WORK_DIR/cli.err")" || fail "tessera generate --chat: $(cat "$WORK_DIR/cli.err")"
cli_text="$(json_string text "$cli_out")"
cli_prompt_ids="$(grep -oE '"prompt_token_ids":\[[^]]*\]' <<<"$cli_out" | sed -E 's/.*\[//; s/\]//')"
cli_prompt_tokens="$(tr ',' '\n' <<<"$cli_prompt_ids" | grep -c . || true)"
if [[ -z "$cli_out" ]]; then
  :
elif [[ "$cli_text" != "$chat_text" ]]; then
  fail "gateway chat text \"$chat_text\" differs from tessera generate --chat \"$cli_text\": $cli_out"
elif [[ "${chat_prompt_tokens:-}" != "$cli_prompt_tokens" ]]; then
  fail "gateway usage.prompt_tokens ${chat_prompt_tokens:-?} differs from the CLI's $cli_prompt_tokens prompt ids"
else
  pass "gateway chat text and prompt length equal tessera generate --chat (\"$cli_text\", $cli_prompt_tokens tokens)"
fi

# --- /v1/completions with a prompt string; the text equals tessera generate --prompt.
PROMPT="The quick brown fox"
http POST /v1/completions "$API_KEY" \
  "{\"model\":\"$MODEL\",\"prompt\":\"$PROMPT\",\"temperature\":0,\"max_tokens\":8}"
if [[ "$HTTP_STATUS" != 200 ]]; then
  fail "completion: $HTTP_STATUS $HTTP_BODY"
elif [[ "$(json_string object "$HTTP_BODY")" != text_completion ||
        "$(json_number completion_tokens "$HTTP_BODY")" != 8 ]] ||
     ! grep -qE '"text":"([^"\\]|\\.)*"' <<<"$HTTP_BODY"; then
  fail "completion: not a text_completion with a text and 8 completion tokens: $HTTP_BODY"
else
  completion_text="$(json_string text "$HTTP_BODY")"
  cli_out="$("$TESSERA_BIN" generate --model "$MODEL" "${KV_FLAGS[@]}" --prompt "$PROMPT" --temperature 0 \
    --max-tokens 8 --json 2>"$WORK_DIR/cli.err")" || fail "tessera generate --prompt: $(cat "$WORK_DIR/cli.err")"
  cli_text="$(json_string text "$cli_out")"
  if [[ -n "$cli_out" && "$cli_text" != "$completion_text" ]]; then
    fail "completion text \"$completion_text\" differs from tessera generate --prompt \"$cli_text\""
  else
    pass "completion: 200, text \"$completion_text\" equals tessera generate --prompt"
  fi
fi

# --- A wrong key is 401 with an OpenAI error object; so is a missing one.
for key in wrong ""; do
  http POST /v1/chat/completions "$key" "{\"model\":\"$MODEL\",\"messages\":$MESSAGES}"
  if [[ "$HTTP_STATUS" == 401 && "$HTTP_BODY" == '{"error":{'* && "$HTTP_BODY" == *'"message":"'* &&
        "$HTTP_BODY" == *'"type":"'* && "$HTTP_BODY" == *'"code":401'* ]]; then
    pass "key '${key:-<none>}': 401 with an OpenAI error object"
  else
    fail "key '${key:-<none>}': expected 401 with an error object, got $HTTP_STATUS $HTTP_BODY"
  fi
done

# --- An out-of-range temperature is 400 naming the parameter.
http POST /v1/chat/completions "$API_KEY" "{\"model\":\"$MODEL\",\"messages\":$MESSAGES,\"temperature\":-1}"
if [[ "$HTTP_STATUS" == 400 && "$HTTP_BODY" == '{"error":{'* && "$HTTP_BODY" == *'"param":"temperature"'* &&
      "$(json_string message "$HTTP_BODY")" == *temperature* ]]; then
  pass "temperature -1: 400 naming temperature"
else
  fail "temperature -1: expected 400 naming temperature, got $HTTP_STATUS $HTTP_BODY"
fi

# --- SIGTERM stops every process; the worker drains and exits 0.
kill -TERM "$GATEWAY_PID"
gateway_rc=0
wait "$GATEWAY_PID" || gateway_rc=$?
GATEWAY_PID=""
[[ "$gateway_rc" == 0 ]] && pass "gateway exits 0 on SIGTERM" || fail "gateway exited $gateway_rc on SIGTERM"
if [[ -n "$ROUTER_PID" ]]; then
  kill -TERM "$ROUTER_PID"
  router_rc=0
  wait "$ROUTER_PID" || router_rc=$?
  ROUTER_PID=""
  [[ "$router_rc" == 0 ]] && pass "router exits 0 on SIGTERM" || fail "router exited $router_rc on SIGTERM"
fi
kill -TERM "$WORKER_PID"
worker_rc=0
wait "$WORKER_PID" || worker_rc=$?
WORKER_PID=""
if [[ "$worker_rc" == 0 ]] && grep -q "stopped" "$WORK_DIR/worker.log"; then
  pass "worker exits 0 on SIGTERM"
else
  fail "worker exited $worker_rc on SIGTERM: $(tail -n 5 "$WORK_DIR/worker.log")"
fi

if [[ "$FAILURES" -gt 0 ]]; then
  echo "$FAILURES check(s) failed" >&2
  exit 1
fi
echo "all services_e2e checks passed"

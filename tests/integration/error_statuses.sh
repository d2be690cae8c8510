#!/usr/bin/env bash
# Every error status of the gateway, from the real chain (gateway → router when built → worker), each with
# OpenAI's error object {"error":{"message","type","param","code"}} and vLLM's status: 400 (invalid parameter,
# prompt over max_model_len), 401 (missing or wrong key), 404 (unknown model, unknown route), 405, 413 (body over
# --max-body-bytes), 429 (the worker is at --max-in-flight-requests: RESOURCE_EXHAUSTED) and 503 (no worker
# answers: UNAVAILABLE).
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/lib/serving.bash"

API_KEY="sk-errors"
MAX_BODY=65536
start_worker --max-in-flight-requests 1
start_router
start_gateway gateway --api-key "$API_KEY" --max-body-bytes "$MAX_BODY"
wait_gateway_healthy
pass "gateway :$GATEWAY_PORT → ${ROUTER_PID:+router $BACKEND_ADDRESS → }worker $WORKER_ADDRESS"

# Sends a request; sets HTTP_STATUS and HTTP_BODY. Usage: http METHOD PATH KEY [BODY_FILE]
http() {
  local method="$1" path="$2" key="$3" body_file="${4:-}"
  local -a args=(-sS -X "$method" -o "$WORK_DIR/body" -w '%{http_code}' --max-time 120)
  [[ -n "$key" ]] && args+=(-H "Authorization: Bearer $key")
  [[ -n "$body_file" ]] && args+=(-H "Content-Type: application/json" --data-binary "@$body_file")
  HTTP_STATUS="$(curl "${args[@]}" "$GATEWAY_URL$path" 2>"$WORK_DIR/curl.err")" ||
    HTTP_STATUS="curl failed: $(cat "$WORK_DIR/curl.err")"
  HTTP_BODY="$(cat "$WORK_DIR/body" 2>/dev/null || true)"
}

body() {
  printf '%s' "$1" >"$WORK_DIR/request.json"
  echo "$WORK_DIR/request.json"
}

CHAT="{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2}"

http POST /v1/chat/completions "$API_KEY" "$(body "${CHAT%\}},\"temperature\":-1}")"
expect_api_error "400 invalid parameter" 400 BadRequestError temperature temperature

http POST /v1/chat/completions "$API_KEY" "$(body '{"messages":"hi"}')"
expect_api_error "400 wrong type" 400 BadRequestError messages messages

http POST /v1/completions "$API_KEY" "$(body 'not json')"
expect_api_error "400 malformed JSON" 400 BadRequestError body JSON

# About 6000 tokens of prompt: more than max_model_len (4096) but well under the body limit.
long_prompt="$(printf 'hello world %.0s' {1..3000})"
http POST /v1/completions "$API_KEY" "$(body "{\"model\":\"$MODEL\",\"prompt\":\"$long_prompt\",\"max_tokens\":4}")"
expect_api_error "400 prompt over max_model_len" 400 BadRequestError null max_model_len

http POST /v1/chat/completions "" "$(body "$CHAT")"
expect_api_error "401 missing key" 401 AuthenticationError null "API key"
http POST /v1/chat/completions "sk-wrong" "$(body "$CHAT")"
expect_api_error "401 wrong key" 401 AuthenticationError null "API key"

http POST /v1/chat/completions "$API_KEY" "$(body '{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}')"
expect_api_error "404 unknown model" 404 NotFoundError model no-such-model
http GET /v1/no/such/route "$API_KEY"
expect_api_error "404 unknown route" 404 NotFoundError null /v1/no/such/route

http GET /v1/chat/completions "$API_KEY"
expect_api_error "405 wrong method" 405 MethodNotAllowedError null POST

head -c "$((MAX_BODY + 1))" /dev/zero | tr '\0' ' ' >"$WORK_DIR/huge.json"
http POST /v1/chat/completions "$API_KEY" "$WORK_DIR/huge.json"
expect_api_error "413 body over --max-body-bytes" 413 RequestEntityTooLargeError null "$MAX_BODY"

# 429: one long request holds the worker's only slot; the next one is shed.
curl -sS -N --max-time 600 -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
  --data-binary "{\"model\":\"$MODEL\",\"prompt\":\"Hold the slot\",\"max_tokens\":4000,\"ignore_eos\":true,\"stream\":true}" \
  "$GATEWAY_URL/v1/completions" >"$WORK_DIR/holder.out" 2>&1 &
holder_pid=$!
for ((i = 0; i < 600; i++)); do
  grep -q '^data: {' "$WORK_DIR/holder.out" 2>/dev/null && break
  sleep 0.1
done
grep -q '^data: {' "$WORK_DIR/holder.out" || die "the request holding the slot never started: $(cat "$WORK_DIR/holder.out")"
for stream in false true; do
  http POST /v1/chat/completions "$API_KEY" "$(body "${CHAT%\}},\"stream\":$stream}")"
  expect_api_error "429 worker at its in-flight limit (stream=$stream)" 429 RateLimitError null ""
done
grep -q 'DONE' "$WORK_DIR/holder.out" && fail "429: the slot holder finished early; the 429 checks proved nothing"
kill -TERM "$holder_pid" 2>/dev/null || true
wait "$holder_pid" 2>/dev/null || true

# 503: the worker is gone, so nothing can answer.
stop_service_pid "$WORKER_PID"
for stream in false true; do
  http POST /v1/chat/completions "$API_KEY" "$(body "${CHAT%\}},\"stream\":$stream}")"
  expect_api_error "503 no worker (stream=$stream)" 503 ServiceUnavailableError null ""
done
http GET /health ""
[[ "$HTTP_STATUS" == 503 ]] && pass "GET /health is 503 without a worker" || fail "GET /health: $HTTP_STATUS $HTTP_BODY"

finish error_statuses

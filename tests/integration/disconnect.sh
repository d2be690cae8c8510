#!/usr/bin/env bash
# A client that goes away mid-request frees the engine: its gRPC call is cancelled through the chain (gateway →
# router when built → worker), the engine aborts the request, and the worker's /metrics show nothing running and
# an empty KV cache long before max_tokens would have been reached. Checked for a streaming and a non-streaming
# request, and the chain keeps serving afterwards.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/lib/serving.bash"

# Nearly the whole context (max_model_len 4096): generating it all takes far longer than noticing a disconnect.
MAX_TOKENS=4000
start_serving_chain

worker_metrics() { curl -s --max-time 5 "http://127.0.0.1:$WORKER_METRICS_PORT/metrics" || true; }

# Polls the worker's metrics until `tessera_num_requests_running` is $1 (and, for 0, the KV cache is empty too),
# up to 60 s; leaves the last text in METRICS.
wait_running() {
  local want="$1" i running usage
  for ((i = 0; i < 600; i++)); do
    METRICS="$(worker_metrics)"
    running="$(metric_value tessera_num_requests_running "$METRICS")"
    usage="$(metric_value tessera_kv_cache_usage_perc "$METRICS")"
    if [[ "$running" == "$want" ]] && { [[ "$want" != 0 ]] || awk -v u="$usage" 'BEGIN { exit !(u == 0) }'; }; then
      return 0
    fi
    sleep 0.1
  done
  echo "running=$running kv_cache_usage_perc=$usage" >&2
  return 1
}

# Starts a long chat request with curl in the background; its output goes to $WORK_DIR/$1.out, its pid to CURL_PID.
start_long_request() {
  local name="$1" stream="$2"
  curl -sS -N --max-time 600 -H 'Content-Type: application/json' \
    --data-binary "{\"model\":\"$MODEL\",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me everything.\"}],
      \"max_tokens\":$MAX_TOKENS,\"ignore_eos\":true,\"stream\":$stream}" \
    "$GATEWAY_URL/v1/chat/completions" >"$WORK_DIR/$name.out" 2>"$WORK_DIR/$name.err" &
  CURL_PID=$!
}

aborted_before=0
generated_before=0
for stream in true false; do
  name="stream-$stream"
  start_long_request "$name" "$stream"
  if [[ "$stream" == true ]]; then
    # Wait for the first content events, so that the disconnect lands mid-stream.
    for ((i = 0; i < 600; i++)); do
      [[ "$(grep -c '^data: {' "$WORK_DIR/$name.out" 2>/dev/null || true)" -ge 3 ]] && break
      kill -0 "$CURL_PID" 2>/dev/null || break
      sleep 0.1
    done
    grep -q '^data: {' "$WORK_DIR/$name.out" || die "the stream never started: $(cat "$WORK_DIR/$name.err")"
  fi
  wait_running 1 || die "stream=$stream: the worker never showed the request running"
  grep -q 'DONE\|"finish_reason":"length"' "$WORK_DIR/$name.out" &&
    die "stream=$stream: the request finished before the disconnect; raise MAX_TOKENS"
  kill -TERM "$CURL_PID" 2>/dev/null || true
  wait "$CURL_PID" 2>/dev/null || true
  if wait_running 0; then
    pass "stream=$stream: after the client left, nothing runs on the worker and its KV cache is empty"
  else
    fail "stream=$stream: the worker still holds the abandoned request"
    continue
  fi
  aborted="$(metric_value 'tessera_request_success_total\{[^}]*finished_reason="abort"[^}]*\}' "$METRICS")"
  generated="$(metric_value tessera_generation_tokens_total "$METRICS")"
  if [[ "${aborted%.*}" == "$((aborted_before + 1))" ]]; then
    pass "stream=$stream: the engine counted the request as aborted"
  else
    fail "stream=$stream: request_success_total{finished_reason=\"abort\"} is '${aborted:-absent}'"
  fi
  aborted_before="${aborted%.*}"
  generated_now="$(awk -v g="${generated:-0}" -v b="$generated_before" 'BEGIN { print g - b }')"
  generated_before="${generated:-0}"
  if awk -v g="$generated_now" -v m="$MAX_TOKENS" 'BEGIN { exit !(g < m) }'; then
    pass "stream=$stream: generation stopped early, after $generated_now of $MAX_TOKENS tokens"
  else
    fail "stream=$stream: $generated_now tokens generated, the request ran to max_tokens"
  fi
done

# The chain still serves.
status="$(curl -s -o "$WORK_DIR/after.json" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
  --data-binary "{\"model\":\"$MODEL\",\"prompt\":\"Hello\",\"max_tokens\":4}" "$GATEWAY_URL/v1/completions")"
[[ "$status" == 200 ]] && pass "a new request is served afterwards" ||
  fail "a request after the disconnects: $status $(cat "$WORK_DIR/after.json")"

finish disconnect

#!/usr/bin/env bash
# 200 streaming requests at once through the real chain (gateway → router when built → worker), with the OpenAI
# SDK (tests/e2e/concurrent_streams.mjs): every stream must finish with exact usage, the tokens counted from its
# deltas equal to usage and max_tokens. Afterwards the worker runs nothing and the gateway counted every request.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/lib/serving.bash"

: "${TESSERA_SOURCE_DIR:?set TESSERA_SOURCE_DIR to the source tree}"
E2E_DIR="$TESSERA_SOURCE_DIR/tests/e2e"
STREAMS=200
MAX_TOKENS=4
command -v node >/dev/null || die "node is not installed (tools/install-deps.sh installs it)"
if [[ ! -d "$E2E_DIR/node_modules/openai" ]]; then
  (cd "$E2E_DIR" && npm ci --no-audit --no-fund) >"$WORK_DIR/npm.log" 2>&1 || die "npm ci failed: $(tail -n 20 "$WORK_DIR/npm.log")"
fi

API_KEY="sk-concurrency"
start_serving_chain --api-key "$API_KEY"

if TESSERA_GATEWAY_URL="$GATEWAY_URL" TESSERA_API_KEY="$API_KEY" TESSERA_MODEL="$MODEL" \
  node "$E2E_DIR/concurrent_streams.mjs" "$STREAMS" "$MAX_TOKENS" >"$WORK_DIR/streams.out" 2>&1; then
  pass "$(tail -n 1 "$WORK_DIR/streams.out")"
else
  fail "concurrent streams: $(cat "$WORK_DIR/streams.out")"
fi

# Every request has ended on the worker: nothing running or waiting (polled: the engine thread publishes the gauges
# after its step).
idle=0
for ((i = 0; i < 300; i++)); do
  metrics="$(curl -s --max-time 5 "http://127.0.0.1:$WORKER_METRICS_PORT/metrics" || true)"
  running="$(metric_value tessera_num_requests_running "$metrics")"
  waiting="$(metric_value tessera_num_requests_waiting "$metrics")"
  if [[ "$running" == 0 && "$waiting" == 0 ]]; then
    idle=1
    break
  fi
  sleep 0.1
done
[[ "$idle" == 1 ]] && pass "the worker is idle afterwards" ||
  fail "the worker still runs requests: running=$running waiting=$waiting"

success="$(metric_value 'tessera_request_success_total\{[^}]*finished_reason="length"[^}]*\}' "$metrics")"
[[ "${success%.*}" -ge "$STREAMS" ]] 2>/dev/null && pass "the worker counted $success requests finished by length" ||
  fail "tessera_request_success_total{finished_reason=\"length\"} is '${success:-absent}', expected >= $STREAMS"

gateway_metrics="$(curl -s --max-time 5 "$GATEWAY_URL/metrics")"
chat_ok="$(metric_value 'http_requests_total\{handler="/v1/chat/completions",method="POST",status="200"\}' "$gateway_metrics")"
completions_ok="$(metric_value 'http_requests_total\{handler="/v1/completions",method="POST",status="200"\}' "$gateway_metrics")"
if [[ "$((${chat_ok:-0} + ${completions_ok:-0}))" == "$STREAMS" ]]; then
  pass "the gateway counted $STREAMS requests answered 200"
else
  fail "the gateway counted ${chat_ok:-0} chat + ${completions_ok:-0} completions 200s, expected $STREAMS"
fi

finish concurrency

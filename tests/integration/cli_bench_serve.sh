#!/usr/bin/env bash
# End-to-end checks of `tessera bench serve` against real processes on loopback: tessera-worker serving the
# tiny-llama fixture, tessera-gateway in front of it (and tessera-router between them when it is built). The
# benchmark runs small workloads through every backend (openai, openai-chat, tessera-grpc) and the printed vLLM-style
# table and the saved JSON must show every request succeeded, exact token totals (EOS is ignored, so each request
# generates exactly --random-output-len tokens) and ordered percentiles; bad targets must fail with a clear message.
# Needs only bash, coreutils, grep, sed and awk (no python/node), so it runs on a bare CI image.
set -euo pipefail

source "$(dirname "$0")/lib/checks.bash"
: "${TESSERA_WORKER_BIN:?set TESSERA_WORKER_BIN to the tessera-worker binary}"
: "${TESSERA_GATEWAY_BIN:?set TESSERA_GATEWAY_BIN to the tessera-gateway binary}"

MODEL="$TESSERA_FIXTURES_DIR/models/tiny-llama"
API_KEY="bench-secret"
KV_FLAGS=(--kv-cache-memory 16777216)
PROMPTS=20
INPUT_LEN=32
OUTPUT_LEN=8
WORKER_PID=""
ROUTER_PID=""
GATEWAY_PID=""
ROUTED_GATEWAY_PID=""

cleanup() {
  local pid
  for pid in "$ROUTED_GATEWAY_PID" "$GATEWAY_PID" "$ROUTER_PID" "$WORKER_PID"; do
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK_DIR"
}
trap cleanup EXIT

die() {
  echo "FAIL: $*" >&2
  local log
  for log in worker router gateway routed_gateway; do
    [[ -f "$WORK_DIR/$log.log" ]] && { echo "--- $log log:" >&2; tail -n 20 "$WORK_DIR/$log.log" >&2; }
  done
  exit 1
}

# The raw value of the top-level field "$1" in the one-line JSON file $2 (numbers, strings with quotes, null).
json_value() {
  grep -oE "\"$1\":(\"[^\"]*\"|[^,}]*)" "$2" | head -n 1 | sed -E "s/^\"$1\"://" || true
}

# --- The serving stack: worker (free port), optionally the router, then the gateway with an API key.
"$TESSERA_WORKER_BIN" --model "$MODEL" --host 127.0.0.1 --port 0 "${KV_FLAGS[@]}" >"$WORK_DIR/worker.log" 2>&1 &
WORKER_PID=$!
wait_for_log "$WORK_DIR/worker.log" "serving '.*' on [^ ]+:[0-9]+" 60 "$WORKER_PID" || die "the worker did not start"
WORKER_ADDRESS="$(grep -oE "serving '.*' on [^ ]+:[0-9]+" "$WORK_DIR/worker.log" | head -n 1 | sed -E 's/.* on //')"
pass "worker serving on $WORKER_ADDRESS"

ROUTER_ADDRESS=""
if [[ -n "${TESSERA_ROUTER_BIN:-}" && -x "${TESSERA_ROUTER_BIN:-}" ]]; then
  "$TESSERA_ROUTER_BIN" --host 127.0.0.1 --port 0 --workers "$WORKER_ADDRESS" >"$WORK_DIR/router.log" 2>&1 &
  ROUTER_PID=$!
  if wait_for_log "$WORK_DIR/router.log" "routing with [^ ]+ on [^ ]+:[0-9]+" 60 "$ROUTER_PID"; then
    ROUTER_ADDRESS="$(grep -oE "routing with [^ ]+ on [^ ]+:[0-9]+" "$WORK_DIR/router.log" | head -n 1 |
      sed -E 's/.* on //')"
    pass "router on $ROUTER_ADDRESS"
  else
    fail "the router did not start: $(tail -n 5 "$WORK_DIR/router.log")"
    ROUTER_PID=""
  fi
fi

"$TESSERA_GATEWAY_BIN" --router "$WORKER_ADDRESS" --host 127.0.0.1 --port 0 --api-key "$API_KEY" \
  >"$WORK_DIR/gateway.log" 2>&1 &
GATEWAY_PID=$!
wait_for_log "$WORK_DIR/gateway.log" "listening on [^ ]+:[0-9]+" 60 "$GATEWAY_PID" || die "the gateway did not start"
GATEWAY_PORT="$(grep -oE "listening on [^ ,]+:[0-9]+" "$WORK_DIR/gateway.log" | head -n 1 | sed -E 's/.*://')"
BASE_URL="http://127.0.0.1:$GATEWAY_PORT"
pass "gateway listening on port $GATEWAY_PORT"

COMMON=(--model "$MODEL" --num-prompts "$PROMPTS" --random-input-len "$INPUT_LEN" --random-output-len "$OUTPUT_LEN"
  --seed 3 --disable-tqdm --ready-check-timeout-sec 60 --request-timeout 60)

# Runs one benchmark and checks its table and JSON. Usage: check_run NAME RATE_ROW INPUT [BENCH FLAGS...]
# RATE_ROW is the "Request rate configured (RPS)" value, or "none" for an infinite rate. INPUT is "exact" when the
# server must count exactly --random-input-len tokens per prompt, "templated" when a chat template adds some.
check_run() {
  local name="$1" rate_row="$2" input_mode="$3"
  shift 3
  local json="$WORK_DIR/$name.json" out="$WORK_DIR/$name.out" rc=0
  "$TESSERA_BIN" bench serve "${COMMON[@]}" --save-result --result-filename "$json" "$@" >"$out" \
    2>"$WORK_DIR/$name.err" || rc=$?
  if [[ "$rc" != 0 ]]; then
    fail "$name: exit $rc: $(tail -n 5 "$WORK_DIR/$name.err") $(tail -n 5 "$out")"
    return
  fi
  local want_output=$((PROMPTS * OUTPUT_LEN)) want_input=$((PROMPTS * INPUT_LEN)) input_row
  input_row="Total input tokens: +$want_input"
  [[ "$input_mode" == templated ]] && input_row="Total input tokens: +[0-9]+"
  local row
  for row in "Successful requests: +$PROMPTS" "Failed requests: +0" "Total generated tokens: +$want_output" \
    "$input_row" "Benchmark duration \(s\): +[0-9]+\.[0-9]{2}" \
    "Request throughput \(req/s\): +[0-9]+\.[0-9]{2}" "Output token throughput \(tok/s\): +[0-9]+\.[0-9]{2}" \
    "Total token throughput \(tok/s\): +[0-9]+\.[0-9]{2}" "Mean TTFT \(ms\): +[0-9]+\.[0-9]{2}" \
    "Median TPOT \(ms\): +[0-9]+\.[0-9]{2}" "P99 ITL \(ms\): +[0-9]+\.[0-9]{2}"; do
    if ! grep -Eq "^$row *$" "$out"; then
      fail "$name: no row matching '$row' in: $(cat "$out")"
      return
    fi
  done
  grep -q "^============ Serving Benchmark Result ============$" "$out" || { fail "$name: no table header"; return; }
  grep -q "^---------------Time to First Token----------------$" "$out" || { fail "$name: no TTFT section"; return; }
  if [[ "$rate_row" == none ]]; then
    grep -q "Request rate configured" "$out" && { fail "$name: an infinite rate has no configured-rate row"; return; }
  elif ! grep -Eq "^Request rate configured \(RPS\): +$rate_row *$" "$out"; then
    fail "$name: no 'Request rate configured (RPS): $rate_row' row in: $(cat "$out")"
    return
  fi
  if [[ ! -s "$json" ]]; then
    fail "$name: --save-result wrote nothing"
    return
  fi
  local input_total
  input_total="$(json_value total_input_tokens "$json")"
  if [[ "$(json_value completed "$json")" != "$PROMPTS" || "$(json_value failed "$json")" != 0 ||
    "$(json_value total_output_tokens "$json")" != "$want_output" || -z "$input_total" ||
    ("$input_mode" == exact && "$input_total" != "$want_input") ||
    ("$input_mode" == templated && "$input_total" -le "$want_input") ||
    "$(json_value num_prompts "$json")" != "$PROMPTS" ]]; then
    fail "$name: counts in the JSON are wrong: $(head -c 600 "$json")"
    return
  fi
  # Every reported metric has mean, median and percentiles; median <= p90 <= p99 and all are non-negative.
  local metric
  for metric in ttft tpot itl e2el; do
    [[ -n "$(json_value "mean_${metric}_ms" "$json")" ]] || continue
    local median p99 p90
    median="$(json_value "median_${metric}_ms" "$json")"
    p99="$(json_value "p99_${metric}_ms" "$json")"
    p90="$(json_value "p90_${metric}_ms" "$json")"
    [[ -n "$p90" ]] || p90="$median"
    if ! awk -v a="$median" -v b="$p90" -v c="$p99" 'BEGIN { exit !(a >= 0 && a <= b && b <= c) }'; then
      fail "$name: $metric percentiles out of order: median $median, p90 $p90, p99 $p99"
      return
    fi
  done
  pass "$name ($(grep -E '^Mean (TTFT|ITL)' "$out" | tr -s ' ' | tr '\n' ';'))"
}

check_run gateway_completions_inf none exact --base-url "$BASE_URL" --api-key "$API_KEY" --max-concurrency 4
grep -Eq "^Maximum request concurrency: +4 *$" "$WORK_DIR/gateway_completions_inf.out" ||
  fail "gateway_completions_inf: no 'Maximum request concurrency: 4' row"
grep -Eq "^Peak concurrent requests: +[1-4]\.00 *$" "$WORK_DIR/gateway_completions_inf.out" ||
  fail "gateway_completions_inf: peak concurrency above 4: $(cat "$WORK_DIR/gateway_completions_inf.out")"

# The key may come from the environment; token-id prompts; a finite Poisson rate; every metric at 50/90/99.
OPENAI_API_KEY="$API_KEY" check_run gateway_completions_rate10 "10.00" exact --host 127.0.0.1 --port "$GATEWAY_PORT" \
  --request-rate 10 --max-concurrency 4 --prompt-token-ids --percentile-metrics ttft,tpot,itl,e2el \
  --metric-percentiles 50,90,99
for row in "P50 E2EL \(ms\)" "P90 TPOT \(ms\)" "Mean E2EL \(ms\)"; do
  grep -Eq "^$row: +[0-9]+\.[0-9]{2} *$" "$WORK_DIR/gateway_completions_rate10.out" ||
    fail "gateway_completions_rate10: no '$row' row"
done
[[ "$(json_value request_rate "$WORK_DIR/gateway_completions_rate10.json")" == 10* ]] ||
  fail "gateway_completions_rate10: request_rate is not 10 in the JSON"

check_run gateway_chat_inf none templated --backend openai-chat --base-url "$BASE_URL" --api-key "$API_KEY" \
  --max-concurrency 4 --tokenizer "$MODEL" --served-model-name "$MODEL"
check_run worker_grpc_rate10 "10.00" exact --backend tessera-grpc --grpc-target "$WORKER_ADDRESS" --request-rate 10 \
  --burstiness 0.5 --max-concurrency 4
check_run worker_grpc_inf none exact --backend tessera-grpc --grpc-target "$WORKER_ADDRESS" --prompt-token-ids
if [[ -n "$ROUTER_ADDRESS" ]]; then
  check_run router_grpc_inf none exact --backend tessera-grpc --grpc-target "$ROUTER_ADDRESS" --max-concurrency 4
  # The whole serving path: gateway -> router -> worker.
  "$TESSERA_GATEWAY_BIN" --router "$ROUTER_ADDRESS" --host 127.0.0.1 --port 0 >"$WORK_DIR/routed_gateway.log" 2>&1 &
  ROUTED_GATEWAY_PID=$!
  if wait_for_log "$WORK_DIR/routed_gateway.log" "listening on [^ ]+:[0-9]+" 60 "$ROUTED_GATEWAY_PID"; then
    routed_port="$(grep -oE "listening on [^ ,]+:[0-9]+" "$WORK_DIR/routed_gateway.log" | head -n 1 | sed -E 's/.*://')"
    check_run gateway_router_rate10 "10.00" exact --base-url "http://127.0.0.1:$routed_port" --request-rate 10 \
      --max-concurrency 4
  else
    fail "the gateway in front of the router did not start: $(tail -n 5 "$WORK_DIR/routed_gateway.log")"
  fi
fi

# Without --model, the model is the server's first; the default result file name follows vLLM's pattern.
mkdir -p "$WORK_DIR/results"
rc=0
"$TESSERA_BIN" bench serve --base-url "$BASE_URL/" --api-key "$API_KEY" --num-prompts 2 --random-input-len 8 \
  --random-output-len 2 --disable-tqdm --save-result --result-dir "$WORK_DIR/results" --label smoke \
  >"$WORK_DIR/default.out" 2>&1 || rc=$?
if [[ "$rc" != 0 ]]; then
  fail "default model: exit $rc: $(tail -n 5 "$WORK_DIR/default.out")"
elif ! grep -q "^First model name: $MODEL$" "$WORK_DIR/default.out"; then
  fail "default model: the server's model was not used: $(cat "$WORK_DIR/default.out")"
elif ! ls "$WORK_DIR/results"/smoke-infqps-tiny-llama-*.json >/dev/null 2>&1; then
  fail "default model: no smoke-infqps-tiny-llama-DATE.json in $(ls "$WORK_DIR/results")"
else
  pass "default model and result file name ($(ls "$WORK_DIR/results"))"
fi

# --- Failures are clear and exit non-zero.
BAD_PORT_FLAGS=(--model "$MODEL" --num-prompts 2 --random-input-len 8 --random-output-len 2 --disable-tqdm)
expect_error "nothing listens at the base URL" "Initial test run failed" "cannot connect to http://127.0.0.1:1" -- \
  bench serve --base-url http://127.0.0.1:1 "${BAD_PORT_FLAGS[@]}"
expect_error "https base URL" "https is not supported" -- \
  bench serve --base-url https://127.0.0.1:8443 "${BAD_PORT_FLAGS[@]}"
expect_error "malformed base URL" "must start with http://" -- \
  bench serve --base-url 127.0.0.1:80 "${BAD_PORT_FLAGS[@]}"
expect_error "wrong API key" "Initial test run failed" "HTTP 401" -- \
  bench serve --base-url "$BASE_URL" --api-key wrong "${BAD_PORT_FLAGS[@]}"
expect_error "unknown model" "Initial test run failed" "HTTP 404" -- \
  bench serve --base-url "$BASE_URL" --api-key "$API_KEY" --served-model-name no-such-model "${BAD_PORT_FLAGS[@]}"
expect_error "gRPC target down" "Initial test run failed" "UNAVAILABLE" -- \
  bench serve --backend tessera-grpc --grpc-target 127.0.0.1:1 "${BAD_PORT_FLAGS[@]}"
expect_error "no tokenizer" "--tokenizer DIR" -- \
  bench serve --base-url "$BASE_URL" --api-key "$API_KEY" --model not-a-folder --num-prompts 2
expect_error "unknown backend" "--backend must be" -- bench serve --backend vllm --model "$MODEL"
expect_error "chat backend on the completions endpoint" "chat/completions" -- \
  bench serve --backend openai-chat --endpoint /v1/completions --model "$MODEL"
expect_error "gRPC backend without a target" "--grpc-target" -- bench serve --backend tessera-grpc --model "$MODEL"
expect_error "zero request rate" "--request-rate" -- bench serve --request-rate 0 --model "$MODEL"
expect_error "unknown percentile metric" "unknown metric 'latency'" -- \
  bench serve --percentile-metrics ttft,latency --model "$MODEL"

"$TESSERA_BIN" bench serve --help >"$WORK_DIR/help" 2>&1 || fail "bench serve --help failed"
for flag in --backend --base-url --request-rate --burstiness --max-concurrency --random-input-len --save-result \
  --percentile-metrics --metric-percentiles --grpc-target; do
  grep -qF -- "$flag" "$WORK_DIR/help" || fail "bench serve --help does not list $flag"
done

finish "cli_bench_serve"

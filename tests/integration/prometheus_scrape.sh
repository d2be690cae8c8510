#!/usr/bin/env bash
# A real Prometheus server scrapes the worker, the router (when built) and the gateway on loopback every second;
# after a few requests its HTTP API returns the token counters the worker exports, and `promtool check metrics`
# accepts each endpoint's text.
set -euo pipefail
source "$(dirname "$0")/lib/checks.bash"
source "$(dirname "$0")/lib/serving.bash"

command -v prometheus >/dev/null || die "prometheus is not installed (tools/install-deps.sh installs it)"
command -v promtool >/dev/null || die "promtool is not installed (tools/install-deps.sh installs it)"
command -v jq >/dev/null || die "jq is not installed"

start_serving_chain

# Some traffic, so that every counter has moved.
for prompt in "Hello" "The quick brown fox" "Once upon a time"; do
  status="$(curl -s -o "$WORK_DIR/answer.json" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
    --data-binary "{\"model\":\"$MODEL\",\"prompt\":\"$prompt\",\"max_tokens\":5,\"ignore_eos\":true}" \
    "$GATEWAY_URL/v1/completions")"
  [[ "$status" == 200 ]] || fail "completion for '$prompt': $status $(cat "$WORK_DIR/answer.json")"
done

declare -A TARGETS=([worker]="127.0.0.1:$WORKER_METRICS_PORT" [gateway]="127.0.0.1:$GATEWAY_PORT")
[[ -n "$ROUTER_METRICS_PORT" ]] && TARGETS[router]="127.0.0.1:$ROUTER_METRICS_PORT"

for job in "${!TARGETS[@]}"; do
  curl -s --max-time 10 "http://${TARGETS[$job]}/metrics" >"$WORK_DIR/$job.prom"
  if promtool check metrics <"$WORK_DIR/$job.prom" >"$WORK_DIR/promtool.out" 2>&1; then
    pass "promtool check metrics accepts the $job's /metrics ($(grep -c '^[a-z]' "$WORK_DIR/$job.prom") samples)"
  else
    fail "promtool check metrics on the $job's /metrics: $(cat "$WORK_DIR/promtool.out")"
  fi
done

PROMETHEUS_PORT="$(free_port)"
{
  echo "global:"
  echo "  scrape_interval: 1s"
  echo "  scrape_timeout: 1s"
  echo "scrape_configs:"
  for job in "${!TARGETS[@]}"; do
    echo "  - job_name: $job"
    echo "    static_configs:"
    echo "      - targets: ['${TARGETS[$job]}']"
  done
} >"$WORK_DIR/prometheus.yml"
promtool check config "$WORK_DIR/prometheus.yml" >/dev/null || die "promtool rejects $WORK_DIR/prometheus.yml"
launch prometheus prometheus --config.file="$WORK_DIR/prometheus.yml" --storage.tsdb.path="$WORK_DIR/tsdb" \
  --web.listen-address="127.0.0.1:$PROMETHEUS_PORT"
PROMETHEUS_PID="$LAST_PID"

# Runs an instant query; prints the API's JSON answer.
query() {
  curl -s --max-time 10 -G --data-urlencode "query=$1" "http://127.0.0.1:$PROMETHEUS_PORT/api/v1/query" || true
}

# Every target is up.
up_jobs=""
for ((i = 0; i < 600; i++)); do
  kill -0 "$PROMETHEUS_PID" 2>/dev/null || die "prometheus exited"
  up_jobs="$(query 'up == 1' | jq -r '[.data.result[]?.metric.job] | sort | join(",")' 2>/dev/null || true)"
  [[ "$up_jobs" == "$(printf '%s\n' "${!TARGETS[@]}" | sort | paste -sd,)" ]] && break
  sleep 0.2
done
if [[ "$up_jobs" == "$(printf '%s\n' "${!TARGETS[@]}" | sort | paste -sd,)" ]]; then
  pass "Prometheus scrapes every target: $up_jobs"
else
  fail "Prometheus sees only '$up_jobs' up: $(query up)"
fi

# The scraped token counter equals the worker's own (no request runs now, so it no longer moves).
expected="$(metric_value tessera_generation_tokens_total "$(cat "$WORK_DIR/worker.prom")")"
scraped=""
for ((i = 0; i < 300; i++)); do
  scraped="$(query 'tessera_generation_tokens_total' | jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true)"
  [[ -n "$scraped" ]] && break
  sleep 0.2
done
if [[ -n "$scraped" ]] && awk -v a="$scraped" -v b="$expected" 'BEGIN { exit !(a == b && a >= 15) }'; then
  pass "query tessera_generation_tokens_total = $scraped, as the worker exports"
else
  fail "query tessera_generation_tokens_total gave '$scraped', the worker exports '$expected': $(query tessera_generation_tokens_total)"
fi
labels="$(query 'tessera_generation_tokens_total' | jq -r '.data.result[0].metric | "\(.job) \(.model_name)"' 2>/dev/null || true)"
[[ "$labels" == "worker $MODEL" ]] && pass "the series carries job=worker and model_name=$MODEL" ||
  fail "tessera_generation_tokens_total labels: '$labels'"

requests="$(query 'sum(http_requests_total{job="gateway",handler="/v1/completions",status="200"})' |
  jq -r '.data.result[0].value[1] // empty' 2>/dev/null || true)"
[[ "$requests" == 3 ]] && pass "the gateway's http_requests_total for /v1/completions is 3" ||
  fail "sum(http_requests_total{job=\"gateway\",handler=\"/v1/completions\",status=\"200\"}) gave '$requests'"

finish prometheus_scrape

#!/usr/bin/env bash
# Checks deploy/ without Docker: the Dockerfiles parse and lint clean (dockerfile-utils: hadolint is neither in
# Debian 12 nor on npm), every file they COPY exists and passes their .dockerignore, the final stages run as
# non-root without build tools; docker-compose.yml's files, services and Tessera flags exist; prometheus.yml passes
# promtool; and every metric name the Grafana dashboard's PromQL uses is exposed on /metrics by the real services
# (worker, router when built, gateway) started on loopback after one request.
set -euo pipefail
: "${TESSERA_SOURCE_DIR:?set TESSERA_SOURCE_DIR to the source tree}"
: "${TESSERA_WORKER_BIN:?set TESSERA_WORKER_BIN to the tessera-worker binary}"
: "${TESSERA_GATEWAY_BIN:?set TESSERA_GATEWAY_BIN to the tessera-gateway binary}"
source "$TESSERA_SOURCE_DIR/tests/integration/lib/checks.bash"
source "$TESSERA_SOURCE_DIR/tests/deploy/setup-tools.bash"
deploy_tools_setup || { echo "FAIL: could not install the deployment check tools" >&2; exit 1; }
command -v curl >/dev/null || { echo "FAIL: curl is not installed (tools/install-deps.sh installs it)" >&2; exit 1; }
command -v promtool >/dev/null || { echo "FAIL: promtool is not installed (Debian package prometheus)" >&2; exit 1; }

DEPLOY="$TESSERA_SOURCE_DIR/deploy"
DASHBOARD="$DEPLOY/grafana/dashboards/tessera.json"
PIDS=()
stop_services() {
  local pid
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK_DIR"
}
trap stop_services EXIT

# --- Dockerfiles: lint, then COPY sources, stages, users; docker-compose.yml.
for dockerfile in "$DEPLOY"/Dockerfile.*; do
  [[ "$dockerfile" == *.dockerignore ]] && continue
  if "$DEPLOY_DIR/node_modules/.bin/dockerfile-utils" lint "$dockerfile" >"$WORK_DIR/lint.log" 2>&1 &&
      [[ ! -s "$WORK_DIR/lint.log" ]]; then
    pass "$(basename "$dockerfile"): dockerfile-utils lint is clean"
  else
    fail "$(basename "$dockerfile"): dockerfile-utils lint: $(cat "$WORK_DIR/lint.log")"
  fi
done
if node "$DEPLOY_DIR/check-deploy-files.mjs" "$TESSERA_SOURCE_DIR" >"$WORK_DIR/files.log" 2>&1; then
  grep -v '^FLAGS ' "$WORK_DIR/files.log" | sed 's/^/ok: /'
else
  fail "deploy files: $(grep -v '^FLAGS ' "$WORK_DIR/files.log")"
fi

# Every flag docker-compose.yml passes to a Tessera program appears in that program's --help.
help_of() {
  case "$1" in
    tessera/*) "$TESSERA_BIN" "${1#tessera/}" --help 2>&1 ;;
    tessera-worker) "$TESSERA_WORKER_BIN" --help 2>&1 ;;
    tessera-gateway) "$TESSERA_GATEWAY_BIN" --help 2>&1 ;;
    tessera-router) [[ -n "${TESSERA_ROUTER_BIN:-}" ]] && "$TESSERA_ROUTER_BIN" --help 2>&1 ;;
  esac
}
while read -r _ program flags; do
  if [[ "$program" == tessera-router && -z "${TESSERA_ROUTER_BIN:-}" ]]; then
    echo "note: tessera-router is not built; its compose flags ($flags) are not checked"
    continue
  fi
  help_text="$(help_of "$program" || true)"
  for flag in $flags; do
    grep -qE -- "(^|[^a-z-])$flag([^a-z-]|$)" <<<"$help_text" || fail "docker-compose.yml: $program has no flag $flag"
  done
  pass "docker-compose.yml: every flag given to $program exists ($flags)"
done < <(grep '^FLAGS ' "$WORK_DIR/files.log")

if promtool check config "$DEPLOY/prometheus.yml" >"$WORK_DIR/promtool.log" 2>&1; then
  pass "promtool check config deploy/prometheus.yml"
else
  fail "promtool: $(cat "$WORK_DIR/promtool.log")"
fi

# --- The dashboard's metric names against the real services' /metrics.
die() {
  echo "FAIL: $*" >&2
  for log in "$WORK_DIR"/*.log; do echo "--- $log:" >&2; tail -n 20 "$log" >&2; done
  exit 1
}
port_of() { grep -oE "$2" "$1" | head -n 1 | grep -oE '[0-9]+$'; }

MODEL="$TESSERA_FIXTURES_DIR/models/tiny-qwen3"
"$TESSERA_WORKER_BIN" --model "$MODEL" --served-model-name tiny-qwen3 --host 127.0.0.1 --port 0 --metrics-port 0 \
  --kv-cache-memory 16777216 >"$WORK_DIR/worker.log" 2>&1 &
PIDS+=($!)
wait_for_log "$WORK_DIR/worker.log" "metrics at http://[^ ]+:[0-9]+/metrics" 60 "${PIDS[-1]}" || die "the worker did not start"
worker_address="$(grep -oE "serving '.*' on [^ ]+:[0-9]+" "$WORK_DIR/worker.log" | head -n 1 | sed -E 's/.* on //')"
metrics_urls=("http://127.0.0.1:$(port_of "$WORK_DIR/worker.log" 'metrics at http://[^ ]+:[0-9]+')/metrics")
skip=()
backend="$worker_address"
if [[ -n "${TESSERA_ROUTER_BIN:-}" ]]; then
  "$TESSERA_ROUTER_BIN" --host 127.0.0.1 --port 0 --metrics-port 0 --workers "$worker_address" \
    >"$WORK_DIR/router.log" 2>&1 &
  PIDS+=($!)
  wait_for_log "$WORK_DIR/router.log" "metrics at http://[^ ]+:[0-9]+" 60 "${PIDS[-1]}" || die "the router did not start"
  wait_for_log "$WORK_DIR/router.log" "routing with .* on [^ ]+:[0-9]+" 30 "${PIDS[-1]}" || die "the router did not listen"
  backend="127.0.0.1:$(port_of "$WORK_DIR/router.log" 'routing with .* on [^ ]+:[0-9]+')"
  metrics_urls+=("http://127.0.0.1:$(port_of "$WORK_DIR/router.log" 'metrics at http://[^ ]+:[0-9]+')/metrics")
else
  echo "note: tessera-router is not built; the gateway talks to the worker directly, router metrics are not checked"
  skip=(--skip-prefix tessera_router_)
fi
"$TESSERA_GATEWAY_BIN" --router "$backend" --host 127.0.0.1 --port 0 >"$WORK_DIR/gateway.log" 2>&1 &
PIDS+=($!)
wait_for_log "$WORK_DIR/gateway.log" "listening on [^ ]+:[0-9]+" 60 "${PIDS[-1]}" || die "the gateway did not start"
gateway_port="$(port_of "$WORK_DIR/gateway.log" 'listening on [^ ,]+:[0-9]+')"
metrics_urls+=("http://127.0.0.1:$gateway_port/metrics")

# One streamed chat request (retried while the backend connects) fills the latency histograms.
request='{"model":"tiny-qwen3","messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"stream":true}'
status=""
for ((i = 0; i < 100; i++)); do
  status="$(curl -sS -o "$WORK_DIR/chat.out" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
    --data-binary "$request" "http://127.0.0.1:$gateway_port/v1/chat/completions" 2>/dev/null || true)"
  [[ "$status" == 200 ]] && break
  sleep 0.2
done
[[ "$status" == 200 ]] || die "chat request through the gateway: HTTP $status $(cat "$WORK_DIR/chat.out" 2>/dev/null)"
pass "a streamed chat completion went through the gateway"

# Series of the finished request (e.g. the router's per-status counter) may be recorded just after the response
# ends: scrape again, for up to 20 s, until every name is there.
dashboard_ok=0
for ((attempt = 0; attempt < 40; attempt++)); do
  scraped=()
  for url in "${metrics_urls[@]}"; do
    file="$WORK_DIR/metrics-${#scraped[@]}.txt"
    curl -sSf --max-time 30 "$url" >"$file" || die "could not scrape $url"
    scraped+=("$file")
  done
  if node "$DEPLOY_DIR/dashboard-metrics.mjs" "$DASHBOARD" "${skip[@]}" "${scraped[@]}" >"$WORK_DIR/dashboard.log" 2>&1
  then
    dashboard_ok=1
    break
  fi
  sleep 0.5
done
if [[ "$dashboard_ok" == 1 ]]; then
  pass "dashboard: $(tail -n 1 "$WORK_DIR/dashboard.log") ($(node "$DEPLOY_DIR/dashboard-metrics.mjs" "$DASHBOARD" | tr '\n' ' '))"
else
  fail "dashboard: $(cat "$WORK_DIR/dashboard.log")"
fi
# The dashboard check is not vacuous: a query on a metric nobody exports is caught.
printf '{"panels":[{"targets":[{"expr":"sum(rate(tessera_no_such_metric_total{model_name=\\"x\\"}[5m])) / 2"}]}]}' \
  >"$WORK_DIR/bogus-dashboard.json"
node "$DEPLOY_DIR/dashboard-metrics.mjs" "$WORK_DIR/bogus-dashboard.json" "${scraped[@]}" >"$WORK_DIR/bogus.log" 2>&1 || true
if grep -qx 'missing: tessera_no_such_metric_total' "$WORK_DIR/bogus.log"; then
  pass "dashboard check reports a metric that is not exported"
else
  fail "dashboard check did not report tessera_no_such_metric_total"
fi
# The dashboard covers what an operator needs to see.
for needed in tessera_time_to_first_token_seconds_bucket tessera_inter_token_latency_seconds_bucket \
    tessera_generation_tokens_total tessera_num_requests_running tessera_num_requests_waiting \
    tessera_kv_cache_usage_perc tessera_prefix_cache_hits_total http_requests_total; do
  node "$DEPLOY_DIR/dashboard-metrics.mjs" "$DASHBOARD" | grep -qx "$needed" || fail "the dashboard does not show $needed"
done

finish "deploy files"

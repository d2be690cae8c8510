# Shared by the serving integration scripts: starts tessera-worker, tessera-router (when TESSERA_ROUTER_BIN is set)
# and tessera-gateway on loopback, each in the background with its log in $WORK_DIR, and stops them all on exit.
# Source it after lib/checks.bash. The chain is gateway → router → worker, or gateway → worker without a router.

: "${TESSERA_WORKER_BIN:?set TESSERA_WORKER_BIN to the tessera-worker binary}"
: "${TESSERA_GATEWAY_BIN:?set TESSERA_GATEWAY_BIN to the tessera-gateway binary}"
command -v curl >/dev/null || { echo "FAIL: curl is not installed (tools/install-deps.sh installs it)" >&2; exit 1; }

MODEL="$TESSERA_FIXTURES_DIR/models/tiny-qwen3"
# A small KV cache keeps start-up fast on a shared CI machine; it still holds a sequence of the full 4096 tokens.
KV_FLAGS=(--kv-cache-memory 16777216)
SERVICE_PIDS=()
SERVICE_NAMES=()

# Stops every started service (SIGTERM, then wait; children first) and removes the scratch folder.
stop_services() {
  local i
  for ((i = ${#SERVICE_PIDS[@]} - 1; i >= 0; i--)); do
    stop_service_pid "${SERVICE_PIDS[$i]}"
  done
  SERVICE_PIDS=()
  SERVICE_NAMES=()
}

stop_service_pid() {
  local pid="$1"
  if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
trap 'stop_services; rm -rf "$WORK_DIR"' EXIT

# Ends the script with the last lines of every service log.
die() {
  echo "FAIL: $*" >&2
  local name
  for name in "${SERVICE_NAMES[@]}"; do
    [[ -f "$WORK_DIR/$name.log" ]] && { echo "--- $name log:" >&2; tail -n 20 "$WORK_DIR/$name.log" >&2; }
  done
  exit 1
}

# A TCP port that was free a moment ago on 127.0.0.1 (for programs that cannot bind port 0 and report it).
free_port() {
  if command -v node >/dev/null; then
    node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
  else
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
  fi
}

# Runs a service in the background: register NAME COMMAND...; its pid is in LAST_PID.
launch() {
  local name="$1"
  shift
  "$@" >"$WORK_DIR/$name.log" 2>&1 &
  LAST_PID=$!
  SERVICE_PIDS+=("$LAST_PID")
  SERVICE_NAMES+=("$name")
}

# Starts a worker serving the fixture model with metrics; sets WORKER_ADDRESS, WORKER_METRICS_PORT, WORKER_PID.
# Extra arguments go to tessera-worker.
start_worker() {
  launch worker "$TESSERA_WORKER_BIN" --model "$MODEL" --host 127.0.0.1 --port 0 --metrics-port 0 "${KV_FLAGS[@]}" "$@"
  WORKER_PID="$LAST_PID"
  wait_for_log "$WORK_DIR/worker.log" "metrics at http://[^ ]+:[0-9]+/metrics" 60 "$WORKER_PID" ||
    die "the worker did not start"
  WORKER_ADDRESS="$(grep -oE "serving '.*' on [^ ]+:[0-9]+" "$WORK_DIR/worker.log" | head -n 1 | sed -E 's/.* on //')"
  WORKER_METRICS_PORT="$(grep -oE "metrics at http://[^ ]+:[0-9]+/metrics" "$WORK_DIR/worker.log" | head -n 1 |
    sed -E 's#.*:([0-9]+)/metrics#\1#')"
  [[ -n "$WORKER_ADDRESS" && -n "$WORKER_METRICS_PORT" ]] || die "cannot read the worker's addresses from its log"
}

# Starts the router in front of the worker when TESSERA_ROUTER_BIN is set; sets BACKEND_ADDRESS (the router's, or
# the worker's without a router), ROUTER_METRICS_PORT and ROUTER_PID (empty without a router). Extra arguments go
# to tessera-router.
start_router() {
  BACKEND_ADDRESS="$WORKER_ADDRESS"
  ROUTER_METRICS_PORT=""
  ROUTER_PID=""
  [[ -n "${TESSERA_ROUTER_BIN:-}" ]] || return 0
  launch router "$TESSERA_ROUTER_BIN" --host 127.0.0.1 --port 0 --workers "$WORKER_ADDRESS" --metrics-port 0 "$@"
  ROUTER_PID="$LAST_PID"
  wait_for_log "$WORK_DIR/router.log" "metrics at http://[^ ]+:[0-9]+/metrics" 60 "$ROUTER_PID" ||
    die "the router did not start"
  BACKEND_ADDRESS="$(grep -oE "routing with [^ ]+ on [^ ]+:[0-9]+" "$WORK_DIR/router.log" | head -n 1 |
    sed -E 's/.* on //')"
  ROUTER_METRICS_PORT="$(grep -oE "metrics at http://[^ ]+:[0-9]+/metrics" "$WORK_DIR/router.log" | head -n 1 |
    sed -E 's#.*:([0-9]+)/metrics#\1#')"
  [[ -n "$BACKEND_ADDRESS" && -n "$ROUTER_METRICS_PORT" ]] || die "cannot read the router's addresses from its log"
}

# Starts a gateway in front of BACKEND_ADDRESS; sets GATEWAY_PORT, GATEWAY_URL, GATEWAY_PID. Extra arguments go to
# tessera-gateway. NAME (first argument) names its log.
start_gateway() {
  local name="$1"
  shift
  launch "$name" "$TESSERA_GATEWAY_BIN" --router "$BACKEND_ADDRESS" --host 127.0.0.1 --port 0 "$@"
  GATEWAY_PID="$LAST_PID"
  wait_for_log "$WORK_DIR/$name.log" "listening on [^ ]+:[0-9]+" 30 "$GATEWAY_PID" || die "the gateway did not start"
  GATEWAY_PORT="$(grep -oE "listening on [^ ,]+:[0-9]+" "$WORK_DIR/$name.log" | head -n 1 | sed -E 's/.*://')"
  GATEWAY_URL="http://127.0.0.1:$GATEWAY_PORT"
}

# Waits until GET /health on the gateway is 200, i.e. the whole chain answers.
wait_gateway_healthy() {
  local i
  for ((i = 0; i < 600; i++)); do
    [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$GATEWAY_URL/health")" == 200 ]] && return 0
    sleep 0.1
  done
  die "GET $GATEWAY_URL/health never returned 200"
}

# Worker, router (when there is one) and a gateway with the extra gateway arguments; waits for health.
start_serving_chain() {
  start_worker
  start_router
  start_gateway gateway "$@"
  wait_gateway_healthy
  if [[ -n "$ROUTER_PID" ]]; then
    pass "gateway :$GATEWAY_PORT → router $BACKEND_ADDRESS → worker $WORKER_ADDRESS"
  else
    pass "gateway :$GATEWAY_PORT → worker $WORKER_ADDRESS (no router built)"
  fi
}

# The value of the first sample in the exposition text $2 whose series matches the regex $1: a metric name (any
# labels), or a name with a label selector ending in '\}', e.g. 'up\{job="worker"\}'.
metric_value() {
  local series="$1" text="$2"
  grep -E "^${series}[{ ]" <<<"$text" | head -n 1 | awk '{print $NF}' || true
}

# Checks the last answer (HTTP_STATUS and HTTP_BODY, which the scripts' request helpers set): status $2, the OpenAI
# error object with that code and type $3, param $4 ("null" for none), and a message containing $5. $1 names the check.
expect_api_error() {
  local name="$1" status="$2" type="$3" param="$4" message_part="$5"
  if [[ "$HTTP_STATUS" != "$status" ]]; then
    fail "$name: expected $status, got $HTTP_STATUS $HTTP_BODY"
    return
  fi
  local checks
  checks="$(jq -r --arg type "$type" --argjson code "$status" --arg param "$param" --arg part "$message_part" '
    if (keys != ["error"]) then "the body has keys other than error"
    elif (.error | keys | sort) != ["code", "message", "param", "type"] then "error keys are \(.error | keys)"
    elif .error.code != $code then "code is \(.error.code)"
    elif .error.type != $type then "type is \(.error.type)"
    elif (.error.param // "null") != $param then "param is \(.error.param)"
    elif (.error.message | type) != "string" or (.error.message | contains($part) | not)
      then "message \(.error.message | tojson) lacks \($part | tojson)"
    else "ok" end' <<<"$HTTP_BODY" 2>&1)" || checks="not JSON: $HTTP_BODY"
  if [[ "$checks" == ok ]]; then
    pass "$name: $status $type ($(jq -r .error.message <<<"$HTTP_BODY"))"
  else
    fail "$name: $checks: $HTTP_BODY"
  fi
}
